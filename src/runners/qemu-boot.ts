import type { QemuJob } from "../config/job-spec.js";
import { outputText } from "./captured-output.js";
import { readConsole, vmOutcome } from "./console-outcome.js";
import { spawnProcess } from "./exec.js";
import type { Accelerator } from "./guest-arch.js";
import { ProcessUsage } from "./process-usage.js";
import { QemuHostError } from "./errors.js";
import { describeQemuEnd, guestPrinted } from "./qemu-failure.js";
import type { BootInfo, Execution, RunContext } from "./types.js";

/** A working KVM guest prints within a second; one silent this long under KVM is the host's fault. */
export const KVM_SILENCE_MS = 20_000;

export interface BootRequest {
  job: QemuJob;
  context: RunContext;
  binary: string;
  args: string[];
  boot: BootInfo;
  accelerator: Accelerator;
  /** kto's per-job marker nonce in guest mode; null for a user's own initramfs. */
  nonce: string | null;
  resultsDir: string;
  /** What is left of the job's timeout: a boot retried under TCG spends what the first one left. */
  timeoutMs: number;
  kvmSilenceMs?: number;
}

/**
 * Runs one qemu process for a job and reads its console. Whatever the guest did (panic,
 * oops, hang, a failing test) comes back as an Execution; QEMU itself failing (aborted,
 * killed, refusing its arguments, or a KVM guest that never prints) throws QemuHostError.
 */
export async function bootGuest(request: BootRequest): Promise<Execution> {
  const { job, context } = request;
  context.onProgress?.({ kind: "phase", jobId: job.id, phase: "booting" });
  const initMarker = request.nonce ? `kto-init-${request.nonce}` : null;
  let tail = "";
  let printed = false;
  let bootMs: number | null = null;
  let ending = "exit" as "exit" | "timeout" | "cancel" | "hang" | "silent";
  const started = Date.now();
  let idleTimer: NodeJS.Timeout | undefined;
  const child = spawnProcess(request.binary, request.args, {
    streamCapBytes: context.streamCapBytes,
    onStdout: (chunk) => {
      armIdle();
      context.onProgress?.({ kind: "output", jobId: job.id, bytes: chunk.length });
      if (bootMs !== null) return;
      tail = (tail + chunk.toString("latin1")).slice(-8192);
      printed ||= guestPrinted(tail);
      if (initMarker ? tail.includes(initMarker) : /Run \S+ as init process/.test(tail)) {
        bootMs = Date.now() - started;
        context.onProgress?.({ kind: "phase", jobId: job.id, phase: "running" });
      }
    },
  });
  const stop = (why: "timeout" | "cancel" | "hang" | "silent") => {
    if (ending !== "exit") return;
    ending = why;
    child.kill();
  };
  const armIdle = () => {
    clearTimeout(idleTimer);
    // Node fires a timer of more than 2^31-1 ms at once; a spec need not come from a capped config.
    idleTimer = setTimeout(() => stop("hang"), Math.min(job.idleTimeoutMs, 2 ** 31 - 1));
  };
  armIdle();
  const timeout = setTimeout(() => stop("timeout"), Math.min(request.timeoutMs, 2 ** 31 - 1));
  const silence =
    request.accelerator === "kvm"
      ? setTimeout(() => {
          if (!printed) stop("silent");
        }, request.kvmSilenceMs ?? KVM_SILENCE_MS)
      : undefined;
  const onAbort = () => stop("cancel");
  if (context.signal?.aborted) onAbort();
  context.signal?.addEventListener("abort", onAbort, { once: true });
  const usage = new ProcessUsage(child.pid);
  const result = await child.done.finally(() => {
    clearTimeout(timeout);
    clearTimeout(idleTimer);
    clearTimeout(silence);
    usage.stop();
    context.signal?.removeEventListener("abort", onAbort);
  });

  const consoleText = outputText(result.stdout);
  const facts = readConsole(consoleText, request.nonce);
  const stderr = outputText(result.stderr);
  if (ending === "silent") {
    throw new QemuHostError(
      `the guest printed nothing in ${((request.kvmSilenceMs ?? KVM_SILENCE_MS) / 1000).toFixed(0)} s under KVM (${request.boot.detail.split(";")[0]}): this host's KVM does not run guests`,
      "kvm",
    );
  }
  // QEMU exits 0 when the guest powers off or (with -no-reboot) resets, panics included:
  // any other end, not asked for by kto, is QEMU failing, and the host's fault.
  const qemuFailed = ending === "exit" && (result.signal !== null || (result.exitCode ?? 0) !== 0);
  if (qemuFailed && !facts.panic && !facts.oops) {
    const end = describeQemuEnd(request.binary, { exitCode: result.exitCode, signal: result.signal, stderr });
    throw new QemuHostError(`${end} ${guestPrinted(consoleText) ? "while the guest ran" : "before the guest printed anything"}`, request.accelerator);
  }
  const named = vmOutcome(
    facts,
    {
      timedOut: ending === "timeout",
      cancelled: ending === "cancel",
      hung: ending === "hang",
      qemuExitCode: result.exitCode,
      printed: guestPrinted(consoleText),
    },
    request.nonce !== null,
  );
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
    boot: request.boot,
    resultsDir: request.resultsDir,
  };
}
