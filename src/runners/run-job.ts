import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobSpec } from "../config/job-spec.js";
import type { ExecutorFactory } from "./factory.js";
import { erroredResult, finishJob } from "./finish-job.js";
import type { BuildOutputs, Execution, ProgressEvent, RunContext, RunResult } from "./types.js";
import { decodeStackTrace } from "./build/decode-stack.js";
import { outputText } from "./captured-output.js";

export interface RunJobOptions {
  factory: ExecutorFactory;
  workspace: string;
  /** The job's own output dir: logs, results/, artifacts/, result.json. */
  jobDir: string;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  streamCapBytes?: number;
  /** For a job that boots a build: where that build's outputs are on this host. */
  build?: BuildOutputs;
}

/** Runs one job end to end on this host. Never throws: a job that cannot run is `errored` with the reason. */
export async function runJob(job: JobSpec, options: RunJobOptions): Promise<RunResult> {
  await mkdir(options.jobDir, { recursive: true });
  const startedAt = new Date();
  const context: RunContext = {
    workspace: options.workspace,
    jobDir: options.jobDir,
    signal: options.signal,
    onProgress: options.onProgress,
    streamCapBytes: options.streamCapBytes,
    ...(options.build ? { build: options.build } : {}),
  };
  try {
    if (job.runner === "build") return await options.factory.build(job, context);
    const execution = await options.factory.execute(job, context);
    options.onProgress?.({ kind: "phase", jobId: job.id, phase: "collecting" });
    const result = await finishJob(job, execution, { jobDir: options.jobDir, workspace: options.workspace });
    return await withStackTrace(result, execution, options);
  } catch (error) {
    return erroredResult(job, error, startedAt, options.jobDir);
  }
}

/**
 * A kernel that oopsed or panicked, booted from a build whose vmlinux is at hand: its
 * stack trace decoded to source lines. A trace that cannot be decoded leaves the result as it was.
 */
async function withStackTrace(result: RunResult, execution: Execution, options: RunJobOptions): Promise<RunResult> {
  const vmlinux = options.build?.files.find((f) => f.role === "vmlinux");
  if (!vmlinux || !execution.console || (result.outcome !== "oops" && result.outcome !== "kernel_panic")) return result;
  const frames = await decodeStackTrace(outputText(execution.console), join(options.build!.dir, vmlinux.path)).catch(() => []);
  if (frames.length === 0) return result;
  const decoded = { ...result, stackTrace: frames };
  await writeFile(join(options.jobDir, "result.json"), JSON.stringify(decoded, null, 2));
  return decoded;
}
