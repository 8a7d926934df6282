import { access, constants } from "node:fs/promises";
import { homedir, release } from "node:os";
import { delimiter, join } from "node:path";
import { acceleratorFor, type AcceleratorChoice } from "./accelerator-probe.js";
import { hostArch, qemuBinaryName, type GuestArch } from "./guest-arch.js";
import { extractVmlinux } from "./kernel-image.js";

/** What this host can do for guests of one architecture. */
export interface HostCapabilities {
  arch: GuestArch;
  qemuBinary: string | null;
  /** What the accelerator probe found; `kvm` is true only when a KVM guest really ran. */
  accelerator: AcceleratorChoice | null;
  kvm: boolean;
  qbootRom: string | null;
  /** A static busybox of the guest's architecture, for kto's guest mode. */
  busybox: string | null;
}

async function findOnPath(name: string): Promise<string | null> {
  if (name.includes("/")) return (await isExecutable(name)) ? name : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function firstExisting(paths: string[]): Promise<string | null> {
  for (const path of paths.filter(Boolean)) {
    if (
      await access(path, constants.R_OK).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  return null;
}

/** Where kto keeps what it can rebuild: extracted kernels, guest initramfs, accelerator probes. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KTO_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kto");
}

/** Where self-hosted/provision.sh lays out kernels and busybox for each guest architecture. */
export function hostDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KTO_HOST_DIR ?? "/var/lib/kto";
}

/** The x86_64 layout predates arm64 guests, so it stays at the top. */
export function archDir(arch: GuestArch, env: NodeJS.ProcessEnv = process.env): string {
  return arch === "x86_64" ? hostDir(env) : join(hostDir(env), arch);
}

function busyboxCandidates(arch: GuestArch, env: NodeJS.ProcessEnv): string[] {
  const own = arch === "x86_64" ? env.KTO_BUSYBOX : env[`KTO_BUSYBOX_${arch.toUpperCase()}`];
  const native = hostArch() === arch ? ["/bin/busybox", "/usr/bin/busybox"] : [];
  return [own ?? "", join(archDir(arch, env), "busybox"), ...native];
}

/** A kernel of `arch` to probe accelerators with: the operator's, provision.sh's, or the host's own. */
async function probeKernel(arch: GuestArch, env: NodeJS.ProcessEnv): Promise<string | null> {
  const own = arch === "x86_64" ? env.KTO_PROBE_KERNEL : env[`KTO_PROBE_KERNEL_${arch.toUpperCase()}`];
  if (own) return firstExisting([own]); // the operator's choice, and only that
  const native = hostArch() === arch ? [`/boot/vmlinuz-${release()}`] : [];
  return firstExisting([join(archDir(arch, env), "kernel", "vmlinuz"), ...native]);
}

export interface DetectOptions {
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Skip the accelerator probe (it boots a kernel): for callers that need only paths. */
  probe?: boolean;
}

/**
 * Finds qemu, firmware and busybox for `arch`, then measures which accelerator really runs
 * a guest: a /dev/kvm that opens is not proof (nested hosts abort or hang on it).
 */
export async function detectHost(arch: GuestArch = "x86_64", options: DetectOptions = {}): Promise<HostCapabilities> {
  const env = options.env ?? process.env;
  const cacheDir = options.cacheDir ?? defaultCacheDir(env);
  const qemuBinary = await findOnPath(qemuBinaryName(arch, env));
  const qbootRom =
    arch === "x86_64" ? await firstExisting(["/usr/share/qemu/qboot.rom", "/usr/share/qemu-firmware/qboot.rom", "/usr/share/seabios/qboot.rom"]) : null;
  const busybox = await firstExisting(busyboxCandidates(arch, env));
  let accelerator: AcceleratorChoice | null = null;
  if (qemuBinary && options.probe !== false) {
    let kernel = await probeKernel(arch, env);
    let bios: string | null = null;
    // Probe the way x86 jobs boot: the extracted vmlinux through qboot, when that path exists.
    if (kernel && arch === "x86_64" && qbootRom) {
      // A kernel that will not extract is probed as it is, without qboot.
      const vmlinux = await extractVmlinux(kernel, join(cacheDir, "kernels")).catch(() => null);
      if (vmlinux?.ok) {
        kernel = vmlinux.path;
        bios = qbootRom;
      }
    }
    accelerator = await acceleratorFor(probeOptions(arch, qemuBinary, kernel, bios, env, cacheDir));
  }
  return { arch, qemuBinary, accelerator, kvm: accelerator?.accelerator === "kvm", qbootRom, busybox };
}

function probeOptions(arch: GuestArch, qemuBinary: string, kernel: string | null, bios: string | null, env: NodeJS.ProcessEnv, cacheDir: string) {
  return { arch, qemuBinary, kernel, bios, kvmDevice: env.KTO_KVM_DEVICE ?? "/dev/kvm", noKvm: Boolean(env.KTO_NO_KVM), cacheDir };
}

/**
 * A host with no kernel of its own to probe with (not provisioned, or /boot unreadable)
 * has its accelerator measured on the first job's kernel instead, booted the way the job
 * boots; the answer is cached like any other.
 */
export async function measuredOn(host: HostCapabilities, kernel: string, bios: string | null, options: DetectOptions = {}): Promise<HostCapabilities> {
  if (!host.qemuBinary || !host.accelerator || host.accelerator.measured) return host;
  const env = options.env ?? process.env;
  const accelerator = await acceleratorFor(probeOptions(host.arch, host.qemuBinary, kernel, bios, env, options.cacheDir ?? defaultCacheDir(env)));
  return { ...host, accelerator, kvm: accelerator.accelerator === "kvm" };
}
