import { PassThrough, type Readable } from "node:stream";
import type Docker from "dockerode";
import { ImagePullError } from "./errors.js";

/** How a container's run ended: by itself, or killed by kto for its timeout or a cancel. */
export interface ContainerEnding {
  exitCode: number | null;
  reason: "exit" | "timeout" | "cancel";
}

/** Starts a timer and returns its cancel; the orchestrator's Clock fits, so tests may pass a virtual one. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

const realTimer: SetTimer = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

/**
 * Makes sure `image` is on this host, pulling it when it is not; true when it was pulled.
 * `onPulling` is told before a pull starts. A failed pull is an ImagePullError.
 */
export async function ensureImage(docker: Docker, image: string, onPulling?: () => void): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return false;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  onPulling?.();
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (error: Error | null, events: { error?: string }[]) => {
        const failed = error?.message ?? events.find((e) => e.error)?.error;
        if (failed) reject(new Error(failed));
        else resolve();
      });
    });
  } catch (error) {
    throw new ImagePullError(image, (error as Error).message);
  }
  return true;
}

/** Splits an attached container's stream into its stdout and stderr chunks; resolves when the stream ends. */
export function demuxStreams(docker: Docker, stream: Readable, onStdout: (chunk: Buffer) => void, onStderr: (chunk: Buffer) => void): Promise<void> {
  const out = new PassThrough();
  const err = new PassThrough();
  out.on("data", onStdout);
  err.on("data", onStderr);
  docker.modem.demuxStream(stream, out, err);
  return new Promise((resolve) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", () => resolve());
  });
}

/**
 * Waits for a started container to exit, killing it at its timeout or when `signal` aborts;
 * rejects when that kill fails and the container may still be running.
 */
export async function waitWithLimits(
  container: Docker.Container,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  setTimer: SetTimer = realTimer,
): Promise<ContainerEnding> {
  let reason: ContainerEnding["reason"] = "exit";
  let killFailed: (error: Error) => void = () => undefined;
  const stillRunning = new Promise<never>((_, reject) => (killFailed = reject));
  const kill = (why: "timeout" | "cancel") => {
    if (reason !== "exit") return;
    reason = why;
    container.kill({ signal: "SIGKILL" }).catch((error: unknown) => {
      // 404 and 409: the container is gone or has stopped already, as the kill was to make it.
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404 || status === 409) return;
      // Still running: waiting on would outlast the limit. The run errors saying why, and
      // the forced removal that follows tries again to stop it.
      const at = why === "timeout" ? "timeout" : "cancellation";
      killFailed(new Error(`killing the container at the job's ${at} failed: ${(error as Error).message}`, { cause: error }));
    });
  };
  // Node fires a timer of more than 2^31-1 ms at once; a spec need not come from a capped config.
  const cancelTimer = setTimer(() => kill("timeout"), Math.min(timeoutMs, 2 ** 31 - 1));
  const onAbort = () => kill("cancel");
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const status = (await Promise.race([container.wait(), stillRunning])) as { StatusCode: number };
    return { exitCode: reason === "exit" ? status.StatusCode : null, reason };
  } finally {
    cancelTimer();
    signal?.removeEventListener("abort", onAbort);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
