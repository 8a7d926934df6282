import { arch as nodeArch } from "node:os";
import { GUEST_ARCHES, type GuestArch } from "../config/schema.js";

export { GUEST_ARCHES, type GuestArch };

export type Accelerator = "kvm" | "tcg";

/** How QEMU boots one guest architecture: which binary, machine, console and CPU model. */
export interface GuestMachine {
  arch: GuestArch;
  /** The default binary name; KTO_QEMU (x86_64) or KTO_QEMU_ARM64 override it. */
  binary: string;
  machine: string;
  console: string;
  /**
   * CPU models to try under KVM, best first: the host's own, then the same with the
   * features nested hypervisors are known to refuse (MSR 0x10a, IA32_ARCH_CAPABILITIES,
   * and the PMU), so a guest still gets hardware speed where the first aborts.
   */
  kvmCpus: string[];
  /**
   * `-M` under KVM where it differs: arm64 hosts with only a GICv3 cannot give a guest the
   * default GICv2, so KVM guests get the host's best GIC.
   */
  kvmMachine?: string;
  /** The CPU model under TCG; cortex-a57 because `max` emulates pointer authentication, which made an arm64 boot 6 times slower. */
  tcgCpu: string | null;
}

export const GUEST_MACHINES: Record<GuestArch, GuestMachine> = {
  x86_64: {
    arch: "x86_64",
    binary: "qemu-system-x86_64",
    machine: "pc",
    console: "ttyS0",
    kvmCpus: ["host", "host,arch-capabilities=off,pmu=off"],
    tcgCpu: null,
  },
  arm64: {
    arch: "arm64",
    binary: "qemu-system-aarch64",
    machine: "virt",
    kvmMachine: "virt,gic-version=max",
    console: "ttyAMA0",
    kvmCpus: ["host", "host,pmu=off"],
    tcgCpu: "cortex-a57",
  },
};

/** This machine's architecture in kto's (the kernel's) names; null for one kto cannot boot guests of. */
export function hostArch(machine: string = nodeArch()): GuestArch | null {
  if (machine === "x64" || machine === "x86_64") return "x86_64";
  if (machine === "arm64" || machine === "aarch64") return "arm64";
  return null;
}

/** The `-M` value for a guest of `arch` under `accelerator`. */
export function machineFor(arch: GuestArch, accelerator: Accelerator): string {
  const machine = GUEST_MACHINES[arch];
  return accelerator === "kvm" ? (machine.kvmMachine ?? machine.machine) : machine.machine;
}

/** The qemu binary for an arch, as the environment names it. */
export function qemuBinaryName(arch: GuestArch, env: NodeJS.ProcessEnv = process.env): string {
  const override = arch === "x86_64" ? env.KTO_QEMU : env.KTO_QEMU_ARM64;
  return override || GUEST_MACHINES[arch].binary;
}

/** The label a host carries when it can boot guests of `arch`, natively or by emulation. */
export function bootLabel(arch: GuestArch): string {
  return `qemu-${arch}`;
}
