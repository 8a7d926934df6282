import { mkdir } from "node:fs/promises";
import type { JobSpec } from "../config/job-spec.js";
import type { ExecutorFactory } from "./factory.js";
import { erroredResult, finishJob } from "./finish-job.js";
import type { BuildOutputs, ProgressEvent, RunContext, RunResult } from "./types.js";

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
    return await finishJob(job, execution, { jobDir: options.jobDir, workspace: options.workspace });
  } catch (error) {
    return erroredResult(job, error, startedAt, options.jobDir);
  }
}
