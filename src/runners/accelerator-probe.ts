import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, writeFile } from "node:fs/promises";
import { hostname, release } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { outputText } from "./captured-output.js";
import { spawnProcess } from "./exec.js";
import { GUEST_MACHINES, hostArch, machineFor, type Accelerator, type GuestArch } from "./guest-arch.js";
import { describeQemuEnd, guestPrinted } from "./qemu-failure.js";

export interface ProbeAttempt {
  accelerator: Accelerator;
  cpu: string | null;
  ok: boolean;
  ms: number;
  detail: string;
}

/** What a host's QEMU can really run for one guest architecture, and how that was found out. */
export interface AcceleratorChoice {
  arch: GuestArch;
  accelerator: Accelerator;
  cpu: string | null;
  /** One line: what runs, and why the faster ones do not. */
  detail: string;
  attempts: ProbeAttempt[];
  /** False when there was no kernel to boot: TCG was assumed, KVM never claimed. */
  measured: boolean;
  /** Whether any accelerator booted a guest (true, unmeasured, when there was no kernel to try). */
  bootable: boolean;
  probedAt: string;
  key: ProbeKey;
}

export interface ProbeKey {
  host: string;
  /** The binary's path and its version line: KTO_QEMU pointing elsewhere is a different qemu. */
  binary: string;
  qemu: string;
  hostKernel: string;
  /** The KVM device tried, or "off" when KTO_NO_KVM rules it out. */
  kvm: string;
}

const attemptSchema = z.object({ accelerator: z.enum(["kvm", "tcg"]), cpu: z.string().nullable(), ok: z.boolean(), ms: z.number(), detail: z.string() });
const choiceSchema = z.object({
  arch: z.enum(["x86_64", "arm64"]),
  accelerator: z.enum(["kvm", "tcg"]),
  cpu: z.string().nullable(),
  detail: z.string(),
  attempts: z.array(attemptSchema),
  measured: z.boolean(),
  bootable: z.boolean(),
  probedAt: z.string(),
  key: z.object({ host: z.string(), binary: z.string(), qemu: z.string(), hostKernel: z.string(), kvm: z.string() }),
});

export interface ProbeOptions {
  arch: GuestArch;
  qemuBinary: string;
  /** A kernel of `arch` to boot; without one nothing can be measured. */
  kernel: string | null;
  /** Firmware for x86's fast path; the probe boots the way jobs do. */
  bios?: string | null;
  kvmDevice?: string;
  /** KTO_NO_KVM: the operator has ruled KVM out. */
  noKvm?: boolean;
  cacheDir: string;
  /** How long a KVM guest may stay silent: a working one prints within a second. */
  kvmSilenceMs?: number;
  bootLimitMs?: number;
}

/** The cache is keyed by what changes the answer: the machine, its qemu and its kernel (KVM lives there). */
export async function probeKey(qemuBinary: string, kvm: string): Promise<ProbeKey> {
  const machineId = await readFile("/etc/machine-id", "utf8").then(
    (text) => text.trim(),
    () => "",
  );
  const version = await spawnProcess(qemuBinary, ["--version"]).done;
  return {
    host: `${hostname()}${machineId ? `/${machineId}` : ""}`,
    binary: qemuBinary,
    qemu: outputText(version.stdout).split("\n")[0]?.trim() || `unknown (${qemuBinary})`,
    hostKernel: release(),
    kvm,
  };
}

/** One file per key, so a probe with KVM ruled out never overwrites the host's real answer. */
function cachePath(cacheDir: string, arch: GuestArch, key: ProbeKey): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([key.host, key.binary, key.qemu, key.hostKernel, key.kvm]))
    .digest("hex")
    .slice(0, 16);
  return join(cacheDir, `accelerator-${arch}-${digest}.json`);
}

export async function readCachedChoice(cacheDir: string, arch: GuestArch, key: ProbeKey): Promise<AcceleratorChoice | null> {
  // No cache, or one this process cannot read: the probe runs again, which is all a cache saves.
  const text = await readFile(cachePath(cacheDir, arch, key), "utf8").catch(() => null);
  if (text === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null; // a torn write or a hand edit: probe again
  }
  const parsed = choiceSchema.safeParse(json);
  return parsed.success && parsed.data.measured ? parsed.data : null;
}

export async function writeCachedChoice(cacheDir: string, choice: AcceleratorChoice): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const path = cachePath(cacheDir, choice.arch, choice.key);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(choice, null, 2)}\n`);
  await rename(temporary, path);
}

/** Opens the device as QEMU will; a missing or forbidden device rules KVM out without a boot. */
async function kvmDeviceProblem(device: string): Promise<string | null> {
  try {
    await (await open(device, "r+")).close();
    return null;
  } catch (error) {
    return `${device}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
}

function label(accelerator: Accelerator, cpu: string | null): string {
  return cpu ? `${accelerator} -cpu ${cpu}` : accelerator;
}

/**
 * Boots the kernel with no initramfs: it runs every initcall, panics for want of a root
 * filesystem and (panic=-1, -no-reboot) QEMU exits. Reaching that panic proves the
 * accelerator and CPU model run a whole kernel, which a device file that opens does not.
 */
async function bootOnce(options: ProbeOptions, accelerator: Accelerator, cpu: string | null): Promise<ProbeAttempt> {
  const machine = GUEST_MACHINES[options.arch];
  const args = ["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-monitor", "none", "-M", machineFor(options.arch, accelerator)];
  args.push("-accel", accelerator);
  if (cpu) args.push("-cpu", cpu);
  if (options.bios) args.push("-bios", options.bios);
  args.push("-m", "256M", "-kernel", options.kernel!, "-append", `console=${machine.console} panic=-1 reboot=t`, "-no-reboot");
  const started = Date.now();
  let console = "";
  let ending = "exit" as "exit" | "silent" | "booted" | "limit";
  const child = spawnProcess(options.qemuBinary, args, {
    streamCapBytes: 1024 * 1024,
    onStdout: (chunk) => {
      console = (console + chunk.toString("latin1")).slice(-16384);
      // A panic for want of a root, or a kernel that carries its own initramfs reaching init.
      if (/Kernel panic|Unable to mount root fs|Run \S+ as init process/.test(console) && ending === "exit") {
        ending = "booted";
        child.kill();
      }
    },
  });
  const silenceLimit = accelerator === "kvm" ? (options.kvmSilenceMs ?? 5_000) : (options.bootLimitMs ?? 60_000);
  const silence = setTimeout(() => {
    if (!guestPrinted(console) && ending === "exit") {
      ending = "silent";
      child.kill();
    }
  }, silenceLimit);
  const limit = setTimeout(() => {
    if (ending === "exit") {
      ending = "limit";
      child.kill();
    }
  }, options.bootLimitMs ?? 60_000);
  const result = await child.done.finally(() => {
    clearTimeout(silence);
    clearTimeout(limit);
  });
  const ms = Date.now() - started;
  const seconds = `${(ms / 1000).toFixed(1)} s`;
  if (ending === "booted") return { accelerator, cpu, ok: true, ms, detail: `booted a kernel in ${seconds}` };
  if (ending === "silent") return { accelerator, cpu, ok: false, ms, detail: `the guest printed nothing in ${seconds}` };
  if (ending === "limit") return { accelerator, cpu, ok: false, ms, detail: `the kernel did not finish booting in ${seconds}` };
  return {
    accelerator,
    cpu,
    ok: false,
    ms,
    detail: describeQemuEnd(options.qemuBinary, { exitCode: result.exitCode, signal: result.signal, stderr: outputText(result.stderr) }),
  };
}

/** Tries KVM with the host's CPU, then with troublesome features off, then TCG; the first that boots wins. */
export async function probeAccelerator(options: ProbeOptions, key: ProbeKey): Promise<AcceleratorChoice> {
  const machine = GUEST_MACHINES[options.arch];
  const attempts: ProbeAttempt[] = [];
  const native = hostArch() === options.arch;
  if (native) {
    const problem = options.noKvm ? "KTO_NO_KVM is set" : await kvmDeviceProblem(options.kvmDevice ?? "/dev/kvm");
    if (problem) attempts.push({ accelerator: "kvm", cpu: null, ok: false, ms: 0, detail: problem });
    else if (!options.kernel)
      attempts.push({
        accelerator: "kvm",
        cpu: null,
        ok: false,
        ms: 0,
        detail: "no kernel to probe with (self-hosted/provision.sh installs one, or set KTO_PROBE_KERNEL)",
      });
    else {
      for (const cpu of machine.kvmCpus) {
        const attempt = await bootOnce(options, "kvm", cpu);
        attempts.push(attempt);
        if (attempt.ok) break;
      }
    }
  } else {
    attempts.push({
      accelerator: "kvm",
      cpu: null,
      ok: false,
      ms: 0,
      detail: `KVM runs only guests of the host's own architecture (${hostArch() ?? "unknown"})`,
    });
  }
  const kvm = attempts.find((a) => a.ok);
  const measured = Boolean(options.kernel);
  if (!kvm && options.kernel) attempts.push(await bootOnce(options, "tcg", machine.tcgCpu));
  const chosen = kvm ?? { accelerator: "tcg" as const, cpu: machine.tcgCpu, ok: true, ms: 0, detail: "" };
  const failures = attempts.filter((a) => !a.ok).map((a) => `${label(a.accelerator, a.cpu)}: ${a.detail}`);
  const tcgAttempt = attempts.find((a) => a.accelerator === "tcg");
  const detail = kvm
    ? [`kvm -cpu ${kvm.cpu}`, ...(failures.length ? [`(${failures.join("; ")})`] : [])].join(" ")
    : tcgAttempt && !tcgAttempt.ok
      ? `no accelerator booted a guest: ${failures.join("; ")}`
      : `tcg, because ${failures.join("; ") || "KVM is not available"}`;
  const bootable = Boolean(kvm) || !tcgAttempt || tcgAttempt.ok;
  return {
    arch: options.arch,
    accelerator: chosen.accelerator,
    cpu: chosen.cpu,
    detail,
    attempts,
    measured,
    bootable,
    probedAt: new Date().toISOString(),
    key,
  };
}

/** The cached answer when nothing it depends on changed, else a new probe (cached when it measured something). */
export async function acceleratorFor(options: ProbeOptions): Promise<AcceleratorChoice> {
  const key = await probeKey(options.qemuBinary, options.noKvm ? "off" : (options.kvmDevice ?? "/dev/kvm"));
  const cached = await readCachedChoice(options.cacheDir, options.arch, key);
  if (cached) return cached;
  const choice = await probeAccelerator(options, key);
  // A cache that cannot be written only means the next process probes again.
  if (choice.measured) await writeCachedChoice(options.cacheDir, choice).catch(() => undefined);
  return choice;
}

/** A job found KVM failing after the probe said it worked: remember that, so the next job starts on TCG. */
export async function demoteToTcg(cacheDir: string, choice: AcceleratorChoice, why: string): Promise<AcceleratorChoice> {
  const machine = GUEST_MACHINES[choice.arch];
  const attempt: ProbeAttempt = { accelerator: "kvm", cpu: choice.cpu, ok: false, ms: 0, detail: `a job's boot failed: ${why}` };
  const demoted: AcceleratorChoice = {
    ...choice,
    accelerator: "tcg",
    cpu: machine.tcgCpu,
    attempts: [...choice.attempts, attempt],
    detail: `tcg, because ${label("kvm", choice.cpu)}: ${attempt.detail}`,
    probedAt: new Date().toISOString(),
  };
  // Unwritten, the cache still says KVM: the next process's first KVM boot fails and demotes again.
  if (choice.measured) await writeCachedChoice(cacheDir, demoted).catch(() => undefined);
  return demoted;
}
