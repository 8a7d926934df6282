import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { commandOutput } from "./exec.js";
import type { ProbeAttempt } from "./accelerator-probe.js";
import { bootLabel, GUEST_ARCHES, hostArch, qemuBinaryName, type Accelerator, type GuestArch } from "./guest-arch.js";
import { detectHost } from "./host-capabilities.js";

/** What a runner host is, as recorded from lscpu, /proc/meminfo and its PCI devices. */
export interface HostFacts {
  lscpu: string;
  meminfo: string;
  /** `lspci -n` lines, or the same facts read from /sys/bus/pci. */
  pci: PciDevice[];
  /** What the accelerator probe found for each guest architecture kto boots. */
  guests: GuestSupport[];
  hostname: string;
}

/** Whether, and how fast, this host boots guests of one architecture. */
export interface GuestSupport {
  arch: GuestArch;
  /** What a guest really ran under; null when there is no qemu for it or nothing booted. */
  accelerator: Accelerator | null;
  /** One line: what runs, and why the faster ones do not. */
  detail: string;
  attempts: ProbeAttempt[];
}

export interface PciDevice {
  /** Four hex digits: class and subclass, e.g. 0300 for a VGA controller. */
  classCode: string;
  vendor: string;
}

export interface HostLabels {
  labels: string[];
  arch: string;
  cpus: number;
  memoryGiB: number;
  gpus: string[];
  guests: GuestSupport[];
  /** The label the App binds a job to: it names exactly one runner. */
  unique: string;
}

export class HostFactsError extends Error {
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
    this.name = "HostFactsError";
  }
}

/** GitHub's and the kernel's names for one architecture differ; kto uses the kernel's, except arm64. */
const ARCH_NAMES: Record<string, string> = {
  x86_64: "x86_64",
  amd64: "x86_64",
  aarch64: "arm64",
  arm64: "arm64",
  riscv64: "riscv64",
  ppc64le: "ppc64le",
  s390x: "s390x",
  armv7l: "arm",
  i686: "i386",
};

/** Display controllers (PCI class 03xx) from vendors whose GPUs run compute or display tests; emulated ones are left out. */
const GPU_VENDORS: Record<string, string> = { "10de": "nvidia", "1002": "amd", "8086": "intel" };

/** `Key: value` lines of lscpu, indented or not. */
function lscpuField(lscpu: string, key: string): string | undefined {
  const line = lscpu.split("\n").find((l) => l.trimStart().startsWith(`${key}:`));
  return line?.slice(line.indexOf(":") + 1).trim();
}

/** Powers of two from `from` up to `value`: a host with 16 CPUs also has at least 2, 4 and 8. */
function classesUpTo(value: number, from: number): number[] {
  const classes: number[] = [];
  for (let size = from; size <= value; size *= 2) classes.push(size);
  return classes;
}

/** Lower-case letters, digits and dashes, as a runner label and name can carry. */
export function runnerNameOf(text: string): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return name || "runner";
}

/**
 * A host's labels: its architecture (the hardware: `arm64` means an arm64 machine),
 * `kvm` when a KVM guest of that architecture really ran, `qemu-<arch>` for each guest
 * architecture it boots natively or by emulation, memory and CPU classes (every power of
 * two the host reaches, so `runs-on: [mem-16g]` means "at least 16 GiB"), GPU vendors,
 * and the unique `kto-runner-<name>` label.
 */
export function labelsForHost(facts: HostFacts, options: { name?: string } = {}): HostLabels {
  const rawArch = lscpuField(facts.lscpu, "Architecture");
  if (!rawArch) throw new HostFactsError("lscpu", "no Architecture line");
  const arch = ARCH_NAMES[rawArch] ?? rawArch;
  const cpus = Number(lscpuField(facts.lscpu, "CPU(s)"));
  if (!Number.isInteger(cpus) || cpus < 1) throw new HostFactsError("lscpu", `CPU(s) is not a count: ${lscpuField(facts.lscpu, "CPU(s)") ?? "missing"}`);
  const memTotal = /^MemTotal:\s+(\d+)\s*kB/m.exec(facts.meminfo);
  if (!memTotal) throw new HostFactsError("/proc/meminfo", "no MemTotal line");
  const memoryGiB = Number(memTotal[1]) / 1024 / 1024;
  // The kernel keeps some memory for itself: a 32 GiB host reports about 31.3 GiB.
  const memoryClasses = classesUpTo(memoryGiB / 0.9, 1).filter((size) => size >= 2);
  const gpus = [...new Set(facts.pci.filter((d) => d.classCode.startsWith("03")).flatMap((d) => GPU_VENDORS[d.vendor.toLowerCase()] ?? []))].sort();
  const unique = `kto-runner-${runnerNameOf(options.name ?? facts.hostname)}`;
  const native = facts.guests.find((guest) => guest.arch === hostArch(rawArch));
  const labels = [
    arch,
    ...(native?.accelerator === "kvm" ? ["kvm"] : []),
    ...facts.guests.filter((guest) => guest.accelerator !== null).map((guest) => bootLabel(guest.arch)),
    ...classesUpTo(cpus, 2).map((n) => `cpu-${n}`),
    ...memoryClasses.map((n) => `mem-${n}g`),
    ...gpus.map((vendor) => `gpu-${vendor}`),
    unique,
  ];
  return { labels, arch, cpus, memoryGiB: Math.round(memoryGiB * 10) / 10, gpus, guests: facts.guests, unique };
}

/** `lspci -n` output: `01:00.0 0300: 10de:2204 (rev a1)`. */
export function parseLspci(text: string): PciDevice[] {
  return text.split("\n").flatMap((line) => {
    const match = /^\S+\s+([0-9a-f]{4}):\s+([0-9a-f]{4}):[0-9a-f]{4}/i.exec(line.trim());
    return match ? [{ classCode: match[1]!.toLowerCase(), vendor: match[2]!.toLowerCase() }] : [];
  });
}

async function pciDevicesFromSys(root: string): Promise<PciDevice[]> {
  const dir = join(root, "sys/bus/pci/devices");
  // No /sys (a container without it) or an unreadable entry: a device kto cannot see gets no label.
  const entries = await readdir(dir).catch(() => [] as string[]);
  const devices: PciDevice[] = [];
  for (const entry of entries) {
    const [classCode, vendor] = await Promise.all(["class", "vendor"].map((f) => readFile(join(dir, entry, f), "utf8").catch(() => "")));
    // /sys holds 0x030000 and 0x10de
    if (classCode && vendor) devices.push({ classCode: classCode.trim().slice(2, 6), vendor: vendor.trim().slice(2) });
  }
  return devices;
}

/** Probes each guest architecture: a boot under each accelerator, cached per host, qemu and kernel. */
export async function probeGuests(env: NodeJS.ProcessEnv = process.env): Promise<GuestSupport[]> {
  const guests: GuestSupport[] = [];
  for (const arch of GUEST_ARCHES) {
    const host = await detectHost(arch, { env });
    const choice = host.accelerator;
    if (!host.qemuBinary) guests.push({ arch, accelerator: null, detail: `${qemuBinaryName(arch, env)} not found`, attempts: [] });
    else if (!choice) guests.push({ arch, accelerator: null, detail: "not probed", attempts: [] });
    else guests.push({ arch, accelerator: choice.bootable ? choice.accelerator : null, detail: choice.detail, attempts: choice.attempts });
  }
  return guests;
}

/** Reads this host's facts; lspci is optional (pciutils), /sys has the same. */
export async function readHostFacts(): Promise<HostFacts> {
  const lscpu = await commandOutput("lscpu", [], { env: { ...process.env, LC_ALL: "C" } as Record<string, string> });
  if (!lscpu) throw new HostFactsError("lscpu", "could not run it; install util-linux");
  const lspci = await commandOutput("lspci", ["-n"]);
  return {
    lscpu: lscpu.stdout.toString("utf8"),
    meminfo: await readFile("/proc/meminfo", "utf8"),
    pci: lspci === null ? await pciDevicesFromSys("/") : parseLspci(lspci.stdout.toString("utf8")),
    guests: await probeGuests(),
    hostname: hostname(),
  };
}
