import type { Clock } from "./clock.js";
import { CoalescedPass } from "./coalesced-pass.js";
import { DispatchRefusedError, type Dispatcher } from "./dispatcher.js";
import type { Reporter } from "./reporter.js";
import type { JobLifecycle } from "./job-lifecycle.js";
import type { OutboxRecord, Store } from "./store/store.js";

export interface OutboxOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Jobs whose effects go out at the same time; each job's own stay in order. Against
   * github.com Octokit's throttling still sends writes one at a time per installation.
   */
  concurrency: number;
}

export const DEFAULT_OUTBOX: OutboxOptions = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 60_000, concurrency: 4 };

/**
 * Delivers the side effects transitions recorded: each with its idempotency key, retried
 * with backoff and jitter. A crash between "decided" and "delivered" redelivers the same
 * key, which the dispatcher drops; a dispatch that never gets through fails the attempt.
 */
export class OutboxWorker {
  private readonly passes = new CoalescedPass(() => this.pass());
  /** Deliveries that failed in a row: the far side (GitHub) is unreachable or refusing. */
  consecutiveFailures = 0;
  totalFailures = 0;

  constructor(
    private readonly store: Store,
    private readonly dispatcher: Dispatcher,
    private readonly lifecycle: JobLifecycle,
    private readonly clock: Clock,
    private readonly options: OutboxOptions = DEFAULT_OUTBOX,
    private readonly reporter: Reporter | null = null,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Delivers what is due. Calls during a pass share it, and it runs once more at its end:
   * effects recorded meanwhile go out now, not at the next poll.
   */
  deliver(): Promise<number> {
    return this.passes.run();
  }

  private async pass(): Promise<number> {
    const byJob = new Map<string, OutboxRecord[]>();
    for (const item of await this.store.dueOutbox(this.clock.now())) byJob.set(item.jobId, [...(byJob.get(item.jobId) ?? []), item]);
    const groups = [...byJob.values()];
    let delivered = 0;
    const worker = async () => {
      for (let group = groups.shift(); group; group = groups.shift()) delivered += await this.deliverInOrder(group);
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency) }, worker));
    return delivered;
  }

  /** One job's due effects in the order they were decided; a failure holds back the rest until its retry. */
  private async deliverInOrder(items: OutboxRecord[]): Promise<number> {
    let delivered = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      // A report shows the job as it is now, so a run of reports needs only one delivery.
      let covered = 0;
      while (item.kind === "report" && items[i + covered + 1]?.kind === "report") covered += 1;
      if (!(await this.deliverOne(item, items.slice(i + 1, i + 1 + covered)))) return delivered;
      delivered += 1 + covered;
      i += covered;
    }
    return delivered;
  }

  /** Delivers `item`; on success it and the effects it `covers` are marked delivered in one write. */
  private async deliverOne(item: OutboxRecord, covers: readonly OutboxRecord[] = []): Promise<boolean> {
    const payload = item.payload as { attempt: number; envId?: string; runId?: string | null };
    try {
      if (item.kind === "dispatch") {
        const job = await this.store.job(item.jobId);
        // Obsolete: the attempt was cancelled or given back before the dispatch went out.
        if (job && job.attempt === payload.attempt && job.state === "dispatched") {
          await this.store.markSending(item.id, this.clock.now());
          const { runId } = await this.dispatcher.dispatch({ key: item.key, job, envId: payload.envId!, maybeSent: item.tried });
          await this.store.setRunId(job.id, job.attempt, runId);
        }
      } else if (item.kind === "report") {
        const job = await this.store.job(item.jobId);
        if (job && this.reporter) await this.reporter.report(job);
      } else {
        const job = await this.store.job(item.jobId);
        await this.dispatcher.cancel({ key: item.key, jobId: item.jobId, attempt: payload.attempt, runId: job?.attempt === payload.attempt ? (job.runId ?? payload.runId ?? null) : (payload.runId ?? null), envId: payload.envId ?? null });
      }
      await this.store.markDelivered([item.id, ...covers.map((c) => c.id)], this.clock.now());
      this.consecutiveFailures = 0;
      return true;
    } catch (error) {
      const message = (error as Error).message;
      // Not the far side failing: nothing was sent, and no retry would change the answer.
      if (error instanceof DispatchRefusedError) {
        await this.store.markFailed(item.id, this.clock.now(), message);
        const job = await this.store.job(item.jobId);
        if (job && job.attempt === payload.attempt) await this.lifecycle.report(job.id, job.attempt, { kind: "finished", status: "errored", outcome: "config", reason: message });
        return true;
      }
      this.consecutiveFailures += 1;
      this.totalFailures += 1;
      if (item.attempts + 1 >= this.options.maxAttempts) {
        await this.store.markFailed(item.id, this.clock.now(), message);
        if (item.kind === "dispatch") {
          const job = await this.store.job(item.jobId);
          if (job && job.attempt === payload.attempt) await this.lifecycle.infrastructureFailure(job, `dispatch failed: ${message}`);
        }
      } else {
        const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** item.attempts);
        await this.store.markRetry(item.id, this.clock.now() + delay / 2 + this.random() * (delay / 2), message);
      }
      return false;
    }
  }
}
