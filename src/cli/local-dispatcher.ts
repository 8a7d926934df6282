import { join } from "node:path";
import type { CancelRequest, DispatchRequest, Dispatcher, RunEvent } from "../orchestrator/dispatcher.js";
import type { ExecutorFactory } from "../runners/factory.js";
import { runJob } from "../runners/run-job.js";
import type { BuildOutputs, ProgressEvent, RunResult } from "../runners/types.js";
import { erroredResult } from "../runners/finish-job.js";
import type { JobRecord } from "../orchestrator/store/store.js";
import type { Logger } from "../orchestrator/logger.js";
import { terminalLogger } from "./terminal.js";

export interface LocalDispatcherOptions {
  factory: ExecutorFactory;
  workspace: string;
  outDir: string;
  recordRunEvent: (jobId: string, attempt: number, event: RunEvent) => Promise<unknown>;
  heartbeatMs: number;
  onStart?: (jobId: string) => void;
  onProgress?: (event: ProgressEvent) => void;
  onEnd?: (jobId: string, result: RunResult) => void;
  /** Where the outputs of the build a job boots are on this machine; nothing for a job that boots none. */
  buildOutputs?: (job: JobRecord) => Promise<BuildOutputs | undefined>;
  logger?: Logger;
}

interface LocalRun {
  abort: AbortController;
  done: Promise<void>;
}

/** Runs dispatched jobs on this machine through src/runners and reports back in-process. */
export class LocalDispatcher implements Dispatcher {
  private readonly runs = new Map<string, LocalRun>();

  private readonly log: Logger;

  constructor(private readonly options: LocalDispatcherOptions) {
    this.log = options.logger ?? terminalLogger;
  }

  /** Each of the batch's jobs runs here at once, in-process: the run is the batch's key. */
  async dispatch({ key, entries }: DispatchRequest): Promise<{ runId: string }> {
    for (const { job } of entries) this.start(key, job);
    return { runId: key };
  }

  private start(key: string, job: JobRecord): void {
    const runKey = `${job.id}#${job.attempt}`;
    if (this.runs.has(runKey)) return; // a redelivery: one run per key
    const abort = new AbortController();
    const done = (async () => {
      const { recordRunEvent, heartbeatMs } = this.options;
      await recordRunEvent(job.id, job.attempt, { kind: "started", runId: key });
      this.options.onStart?.(job.spec.id);
      const heartbeat = setInterval(
        () =>
          void recordRunEvent(job.id, job.attempt, { kind: "heartbeat" }).catch((err: unknown) =>
            this.log.warn({ err, job: job.id }, "a heartbeat was not recorded; the lease runs on until the next"),
          ),
        heartbeatMs,
      );
      try {
        const dir = join("jobs", job.spec.slug);
        const jobDir = join(this.options.outDir, dir);
        const build = await this.options.buildOutputs?.(job).catch((error: unknown) => ({ error }));
        const result =
          build && "error" in build
            ? await erroredResult(job.spec, build.error, new Date(), jobDir)
            : await runJob(job.spec, {
                factory: this.options.factory,
                workspace: this.options.workspace,
                jobDir,
                signal: abort.signal,
                onProgress: this.options.onProgress,
                ...(build ? { build } : {}),
              });
        this.options.onEnd?.(job.spec.id, result);
        await recordRunEvent(job.id, job.attempt, {
          kind: "finished",
          status: result.status,
          outcome: result.outcome,
          reason: result.reason,
          // The host failed, not the test: the orchestrator retries it while attempts remain.
          infrastructure: result.outcome === "infrastructure",
          result: { ...result, dir },
        });
      } finally {
        clearInterval(heartbeat);
      }
    })().catch((err: unknown) =>
      // runJob never throws, so this is the store refusing a report: the lease expires and the job is retried.
      this.log.error({ err, job: job.id }, "a local job's report was not recorded; it will be retried when its lease runs out"),
    );
    this.runs.set(runKey, { abort, done });
  }

  async cancel({ jobId, attempt }: CancelRequest): Promise<void> {
    this.runs.get(`${jobId}#${attempt}`)?.abort.abort();
  }

  /** Resolves when every run started here has ended (its container or VM removed). */
  async idle(): Promise<void> {
    await Promise.all([...this.runs.values()].map((r) => r.done));
  }
}
