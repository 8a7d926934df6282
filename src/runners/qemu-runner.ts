import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { JobSpec } from "../config/job-spec.js";
import { outputText } from "./captured-output.js";
import { readConsole, vmOutcome } from "./console-outcome.js";
import { JobInputError, QemuUnavailableError } from "./errors.js";
import { spawnProcess } from "./exec.js";
import { baseInitramfs, jobInitramfs, locateModules, RESULTS_TAG, WORKSPACE_TAG } from "./guest-initramfs.js";
import { detectHost, type HostCapabilities } from "./host-capabilities.js";
import { extractVmlinux } from "./kernel-image.js";
import { kernelAppend, qemuArgs, type QemuInvocation } from "./qemu-args.js";
import type { BootInfo, Execution, RunContext, Runner } from "./types.js";

export const DEFAULT_VM_MEMORY = 512 * 1024 * 1024;

export interface QemuRunnerOptions {
  host?: HostCapabilities;
  cacheDir?: string;
  /** Boot the way most users write it (bzImage, SeaBIOS); for comparisons and odd kernels. */
  standardBoot?: boolean;
}

export function defaultCacheDir(): string {
  return process.env.KTO_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kto");
}

async function requireFile(field: string, path: string): Promise<void> {
  const info = await stat(path).catch(() => null);
  if (!info) throw new JobInputError(field, path, "no such file");
  if (!info.isFile()) throw new JobInputError(field, path, "not a regular file");
}

export class QemuRunner implements Runner {
  readonly kind = "qemu" as const;
  private hostPromise: Promise<HostCapabilities> | undefined;
  private readonly cacheDir: string;

  constructor(private readonly options: QemuRunnerOptions = {}) {
    this.cacheDir = options.cacheDir ?? defaultCacheDir();
    if (options.host) this.hostPromise = Promise.resolve(options.host);
  }

  host(): Promise<HostCapabilities> {
    this.hostPromise ??= detectHost();
    return this.hostPromise;
  }

  async execute(job: JobSpec, context: RunContext): Promise<Execution> {
    const host = await this.host();
    if (!host.qemuBinary) throw new QemuUnavailableError(process.env.KTO_QEMU ?? `qemu-system-${job.arch}`);
    const kernel = resolve(context.workspace, job.kernel!);
    await requireFile("kernel", kernel);
    const userInitramfs = job.initramfs ? resolve(context.workspace, job.initramfs) : undefined;
    if (userInitramfs) await requireFile("initramfs", userInitramfs);
    const disk = job.disk ? resolve(context.workspace, job.disk) : undefined;
    if (disk) await requireFile("disk", disk);
    const guestMode = !userInitramfs;

    const resultsDir = join(context.jobDir, "results");
    await mkdir(resultsDir, { recursive: true });
    const temp = await mkdtemp(join(tmpdir(), "kto-vm-"));
    try {
      context.onProgress?.({ kind: "phase", jobId: job.id, phase: "preparing" });
      const boot = await this.chooseBoot(kernel, host);
      const nonce = randomBytes(8).toString("hex");
      let initrd = userInitramfs;
      if (guestMode) {
        if (!host.busybox) throw new JobInputError("command", "busybox", "kto's guest mode needs busybox-static on the host");
        const base = await baseInitramfs({
          busybox: host.busybox,
          modulesDir: await locateModules(kernel, job.modules ? resolve(context.workspace, job.modules) : undefined),
          cacheDir: this.cacheDir,
        });
        initrd = join(temp, "initramfs.cpio");
        await writeFile(initrd, Buffer.concat([await readFile(base.path), jobInitramfs(job.command!, job.env, nonce)]));
      }
      const invocation: QemuInvocation = {
        accelerator: boot.accelerator,
        boot: boot.path,
        kernel: boot.kernel,
        initrd,
        append: kernelAppend({ guestMode, extra: job.append }),
        memoryBytes: job.memoryBytes ?? DEFAULT_VM_MEMORY,
        cpus: job.cpus ?? 1,
        shares: guestMode
          ? [
              { tag: WORKSPACE_TAG, path: resolve(context.workspace), readonly: true },
              { tag: RESULTS_TAG, path: resultsDir, readonly: false },
            ]
          : [],
        disk,
        qbootRom: host.qbootRom ?? undefined,
      };
      return await this.boot(job, context, host.qemuBinary, qemuArgs(invocation), boot.info, guestMode ? nonce : null, resultsDir);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  private async chooseBoot(kernel: string, host: HostCapabilities): Promise<{ path: "fast" | "standard"; kernel: string; accelerator: "kvm" | "tcg"; info: BootInfo }> {
    const accelerator: "kvm" | "tcg" = host.kvm ? "kvm" : "tcg";
    const standard = (detail: string) => ({
      path: "standard" as const,
      kernel,
      accelerator,
      info: { path: "standard" as const, accelerator, machine: "pc", detail } satisfies BootInfo,
    });
    if (this.options.standardBoot) return standard("standard boot requested");
    if (!host.qbootRom) return standard("fast boot unavailable: qboot.rom not found (install qemu-system-data)");
    const vmlinux = await extractVmlinux(kernel, join(this.cacheDir, "kernels")).catch(
      (error: Error) => ({ ok: false, detail: error.message }) as const,
    );
    if (!vmlinux.ok) return standard(`fast boot unavailable: ${vmlinux.detail}`);
    return {
      path: "fast",
      kernel: vmlinux.path,
      accelerator,
      info: { path: "fast", accelerator, machine: "pc", detail: `${vmlinux.detail}, PVH entry, qboot` },
    };
  }

  private async boot(
    job: JobSpec,
    context: RunContext,
    binary: string,
    args: string[],
    boot: BootInfo,
    nonce: string | null,
    resultsDir: string,
  ): Promise<Execution> {
    context.onProgress?.({ kind: "phase", jobId: job.id, phase: "booting" });
    const initMarker = nonce ? `kto-init-${nonce}` : null;
    let tail = "";
    let bootMs: number | null = null;
    let ending = "exit" as "exit" | "timeout" | "cancel" | "hang";
    const started = Date.now();
    let idleTimer: NodeJS.Timeout | undefined;
    const child = spawnProcess(binary, args, {
      streamCapBytes: context.streamCapBytes,
      onStdout: (chunk) => {
        armIdle();
        context.onProgress?.({ kind: "output", jobId: job.id, bytes: chunk.length });
        if (bootMs !== null) return;
        tail = (tail + chunk.toString("latin1")).slice(-8192);
        if (initMarker ? tail.includes(initMarker) : /Run \S+ as init process/.test(tail)) {
          bootMs = Date.now() - started;
          context.onProgress?.({ kind: "phase", jobId: job.id, phase: "running" });
        }
      },
    });
    const stop = (why: "timeout" | "cancel" | "hang") => {
      if (ending !== "exit") return;
      ending = why;
      child.kill();
    };
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => stop("hang"), job.idleTimeoutMs);
    };
    armIdle();
    const timeout = setTimeout(() => stop("timeout"), job.timeoutMs);
    const onAbort = () => stop("cancel");
    if (context.signal?.aborted) onAbort();
    context.signal?.addEventListener("abort", onAbort, { once: true });
    const usage = new ProcessUsage(child.pid);
    const result = await child.done.finally(() => {
      clearTimeout(timeout);
      clearTimeout(idleTimer);
      usage.stop();
      context.signal?.removeEventListener("abort", onAbort);
    });

    const consoleText = outputText(result.stdout);
    const facts = readConsole(consoleText, nonce);
    const named = vmOutcome(
      facts,
      { timedOut: ending === "timeout", cancelled: ending === "cancel", hung: ending === "hang", qemuExitCode: result.exitCode },
      nonce !== null,
    );
    if (!named && result.exitCode !== 0 && facts.exitStatus === null && !facts.initSeen) {
      throw new Error(`${binary} exited with ${result.exitCode}: ${outputText(result.stderr).trim().split("\n").slice(-3).join(" ")}`);
    }
    return {
      exitCode: facts.exitStatus,
      startedAt: result.startedAt,
      finishedAt: result.finishedAt,
      stdout: result.stdout,
      stderr: result.stderr,
      console: result.stdout,
      timedOut: ending === "timeout",
      cancelled: ending === "cancel",
      ...(named ? { outcome: named.outcome, reason: named.reason } : {}),
      metrics: {
        wallMs: result.finishedAt.getTime() - result.startedAt.getTime(),
        cpuMs: usage.cpuMs,
        memoryPeakBytes: usage.memoryPeakBytes,
        bootMs,
      },
      boot,
      resultsDir,
    };
  }
}

const CLOCK_TICKS_PER_SECOND = 100;

/** Samples /proc for a process's CPU time and peak RSS (VmHWM never goes down, so the last sample is the peak). */
class ProcessUsage {
  cpuMs: number | null = null;
  memoryPeakBytes: number | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => void this.sample(), 200);
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const [status, stat] = await Promise.all([
      readFile(`/proc/${this.pid}/status`, "utf8").catch(() => null),
      readFile(`/proc/${this.pid}/stat`, "utf8").catch(() => null),
    ]);
    const hwm = status ? /VmHWM:\s+(\d+) kB/.exec(status) : null;
    if (hwm) this.memoryPeakBytes = Math.max(this.memoryPeakBytes ?? 0, Number(hwm[1]) * 1024);
    if (stat) {
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      if (Number.isFinite(ticks)) this.cpuMs = Math.max(this.cpuMs ?? 0, Math.round((ticks * 1000) / CLOCK_TICKS_PER_SECOND));
    }
  }
}
