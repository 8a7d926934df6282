import type { Clock } from "./clock.js";
import { isTerminal, type JobState } from "./job-state.js";
import { CoalescedPass } from "./coalesced-pass.js";
import { DispatchRefusedError, type BatchEntry, type Dispatcher } from "./dispatcher.js";
import { batchKeyOf, type DispatchPayload } from "./job-effects.js";
import type { PriorTries, Publisher } from "./publisher.js";
import type { JobLifecycle } from "./job-lifecycle.js";
import { errorText, stderrLogger, type Logger } from "./logger.js";
import type { JobRecord, OutboxRecord, Store } from "./store/store.js";
import { reportGroupOf } from "./report-group.js";
import { httpStatusOf } from "./http-status.js";

export interface OutboxOptions {
  /**
   * Tries before an effect is given up: a dispatch (its attempt then fails) or a check run
   * update of a job still under way (a later one shows it). A finished job's last update is
   * never given up: only an answer that cannot change (a 4xx) ends it.
   */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /**
   * Jobs whose effects go out at the same time; each job's own stay in order. Against
   * github.com Octokit's throttling still sends writes one at a time per installation.
   */
  concurrency: number;
  /**
   * How many jobs' effects of one installation go out at once (unset: as many as
   * `concurrency`). Where GitHub takes an installation's writes a second apart anyway, one
   * sends them in priority order: a dispatch waits behind the one write in flight, not
   * behind every worker's.
   */
  lanesPerInstallation?: number;
}

/** Effects read from the store at once. */
const BATCH = 100;

export const DEFAULT_OUTBOX: OutboxOptions = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 60_000, concurrency: 4 };

/**
 * The far side asked to wait (GitHub's rate limits) or is not ready to answer yet: nothing
 * was done, and the effect goes again at `retryAt` without that counting as a try.
 */
export class DeferredError extends Error {
  override readonly name: string = "DeferredError";
  constructor(
    message: string,
    readonly retryAt: number,
  ) {
    super(message);
  }
}

/** An answer a retry cannot change: a 4xx other than "too many requests". */
function isPermanent(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Sends the side effects transitions recorded: each with its idempotency key, retried
 * with backoff and jitter. A crash between "decided" and "handled" sends the same
 * key, which the dispatcher drops; a dispatch that never gets through fails the attempt.
 */
export class OutboxWorker {
  private readonly passes = new CoalescedPass(() => this.pass());
  /** Sends that failed in a row: the far side (GitHub) is unreachable or refusing. */
  consecutiveFailures = 0;
  totalFailures = 0;
  /** Sends put off because the far side asked to wait: not failures. */
  totalDeferrals = 0;

  constructor(
    private readonly store: Store,
    private readonly dispatcher: Dispatcher,
    private readonly lifecycle: JobLifecycle,
    private readonly clock: Clock,
    private readonly options: OutboxOptions = DEFAULT_OUTBOX,
    private readonly publisher: Publisher | null = null,
    private readonly random: () => number = Math.random,
    /**
     * Whether this process sends now, asked before each effect. Replicas sharing a queue
     * let one of them (the queue's leader) send, so no effect goes out twice, from two of
     * them at once; a leader that stalled past its lease stops where it is.
     */
    private readonly maySend: () => Promise<boolean> = () => Promise.resolve(true),
    private readonly log: Logger = stderrLogger,
  ) {
    this.since = clock.now();
  }

  /**
   * Sends what is due. Calls during a pass share it, and it runs once more at its end:
   * effects recorded meanwhile go out now, not at the next poll.
   */
  sendDue(): Promise<number> {
    this.recorded = true;
    return this.passes.run();
  }

  /** Something was recorded since the batch in hand was read: it may outrank what the batch has left. */
  private recorded = false;
  /** False once this pass was told it may not send: what is left waits for a leader. */
  private mayGoOn = true;
  /** When this process began to send: what was recorded before it may have been sent already. */
  private readonly since: number;

  /**
   * A batch at a time, in priority order, until what is due fits in one: a backlog drains
   * now, not a batch per poll. Where an installation has lanes, one that has handled in
   * this batch takes no more once something new was recorded: the batch is read again, so
   * a dispatch decided meanwhile goes next, not after the batch.
   */
  private async pass(): Promise<number> {
    let handled = 0;
    this.mayGoOn = true;
    const lanes = this.options.lanesPerInstallation ?? Infinity;
    for (;;) {
      this.recorded = false;
      if (!(await this.stillMaySend())) return handled;
      const due = await this.store.outbox.dueOutbox(this.clock.now(), BATCH);
      const groups = await this.grouped(due);
      let sent = 0;
      const busy = new Map<number, number>();
      const done = new Set<number>();
      const laneFree = (installationId: number) =>
        (busy.get(installationId) ?? 0) < lanes && !(lanes !== Infinity && this.recorded && done.has(installationId));
      /** The next group that may go now: the first in priority order whose installation has a lane free. */
      const next = (): OutboxRecord[] | undefined => {
        if (!this.mayGoOn) return undefined;
        const at = groups.findIndex((g) => g[0]!.installationId === null || laneFree(g[0]!.installationId));
        return at < 0 ? undefined : groups.splice(at, 1)[0];
      };
      // A worker with nothing it may take ends; the worker holding an installation's lane takes that installation's next group.
      const worker = async () => {
        for (let group = next(); group; group = next()) {
          const lane = group[0]!.installationId;
          if (lane !== null) busy.set(lane, (busy.get(lane) ?? 0) + 1);
          try {
            sent += await this.sendInOrder(group);
          } finally {
            if (lane !== null) {
              busy.set(lane, busy.get(lane)! - 1);
              done.add(lane);
            }
          }
        }
      };
      // Every worker ends before the pass does, even when one fails: a pass that ended with
      // sends still in flight would let the next one read them as due and send them again.
      const ended = await Promise.allSettled(Array.from({ length: Math.max(1, this.options.concurrency) }, worker));
      const failed = ended.find((result) => result.status === "rejected");
      if (failed) throw failed.reason;
      handled += sent;
      // A full batch, or one left for what was recorded meanwhile, is read again; one of
      // which nothing went out (GitHub refusing, asking to wait) waits for the next poll.
      if (sent === 0 || !this.mayGoOn || (due.length < BATCH && groups.length === 0)) return handled;
    }
  }

  /**
   * The batch by job, in order, but for reports: those showing one check run (a suite's)
   * go together, whichever job's move they report, so that one send covers them all.
   */
  private async grouped(due: readonly OutboxRecord[]): Promise<OutboxRecord[][]> {
    const groups = new Map<string, OutboxRecord[]>();
    const jobs = new Map<string, JobRecord | null>();
    for (const item of due) {
      let key = item.jobId;
      if (item.kind === "publish") {
        if (!jobs.has(item.jobId)) jobs.set(item.jobId, await this.store.jobs.job(item.jobId));
        const job = jobs.get(item.jobId);
        if (job) key = reportGroupOf(job);
      }
      groups.set(key, [...(groups.get(key) ?? []), item]);
    }
    return [...groups.values()];
  }

  /**
   * A report tried before may have been applied (its answer lost); one recorded before this
   * process started may have been sent by the process before it as it died. Any other is
   * on its first try.
   */
  private priorTries(item: OutboxRecord, latest: OutboxRecord): PriorTries {
    const recordedFor = (latest.payload as { to?: JobState } | null)?.to;
    return { mayHaveLanded: item.attempts > 0 || item.sentAt !== null || item.createdAt < this.since, ...(recordedFor ? { recordedFor } : {}) };
  }

  /**
   * Asks before each effect; once told no, the rest of the pass sends nothing (a worker's
   * late yes does not undo another's no). A question that fails is a no, and is logged.
   */
  private async stillMaySend(): Promise<boolean> {
    if (!this.mayGoOn) return false;
    const may = await this.maySend().catch((err: unknown) => {
      this.log.warn({ err }, "asking whether this process may send side effects failed; the rest wait for the next pass");
      return false;
    });
    if (!may) this.mayGoOn = false;
    return this.mayGoOn;
  }

  /** One job's due effects in the order they were decided; a failure holds back the rest until its retry. */
  private async sendInOrder(items: OutboxRecord[]): Promise<number> {
    let handled = 0;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (!(await this.stillMaySend())) return handled;
      // A report shows the job (a suite, an approval, the plan) as it is now, so a run of them needs only one send.
      let covered = 0;
      while ((item.kind === "publish" || item.kind === "approval") && items[i + covered + 1]?.kind === item.kind) covered += 1;
      if (!(await this.sendOne(item, items.slice(i + 1, i + 1 + covered)))) return handled;
      handled += 1 + covered;
      i += covered;
    }
    return handled;
  }

  /**
   * A dispatch's jobs as they are now: those still leased at the attempt and in the batch
   * it was made for (`live`), and whether one has started already, so its run exists.
   */
  private async batchOf(item: OutboxRecord): Promise<{ live: BatchEntry[]; started: boolean }> {
    const payload = item.payload as DispatchPayload;
    // A dispatch recorded before batches lists no entries: its own job alone.
    const entries = payload.entries ?? [{ jobId: item.jobId, attempt: payload.attempt, runnerId: payload.runnerId }];
    const batchKey = batchKeyOf({ id: entries[0]!.jobId, attempt: entries[0]!.attempt });
    const live: BatchEntry[] = [];
    let started = false;
    for (const entry of entries) {
      const job = await this.store.jobs.job(entry.jobId);
      // Obsolete: the attempt was cancelled or given back before the dispatch went out, or
      // another replica's pass leased it in a batch of its own.
      if (!job || job.attempt !== entry.attempt || (job.batchKey !== null && job.batchKey !== batchKey)) continue;
      if (job.state === "dispatched") live.push({ job, runnerId: entry.runnerId });
      if (job.state === "running") started = true;
    }
    return { live, started };
  }

  /** Sends a batch's dispatch, unless its run has started or none of its jobs is still waiting for it. */
  private async sendDispatch(item: OutboxRecord): Promise<void> {
    const { live, started } = await this.batchOf(item);
    if (started || live.length === 0) return;
    await this.store.outbox.markSending(item.id, this.clock.now());
    const { runId } = await this.dispatcher.dispatch({ key: item.key, entries: live, sentAt: item.sentAt });
    if (runId !== null) for (const { job } of live) await this.store.jobs.setRunId(job.id, job.attempt, runId);
  }

  /** Sends `item`; on success it and the effects it `covers` are marked handled in one write. */
  private async sendOne(item: OutboxRecord, covers: readonly OutboxRecord[] = []): Promise<boolean> {
    const payload = item.payload as { attempt: number; runnerId?: string; runId?: string | null; batchKey?: string | null };
    try {
      if (item.kind === "dispatch") {
        await this.sendDispatch(item);
      } else if (item.kind === "publish") {
        const job = await this.store.jobs.job(item.jobId);
        if (job && this.publisher) await this.publisher.publishJob(job, this.priorTries(item, covers.at(-1) ?? item));
      } else if (item.kind === "approval") {
        await this.publisher?.publishPlan(item.jobId);
      } else {
        const job = await this.store.jobs.job(item.jobId);
        await this.dispatcher.cancel({
          key: item.key,
          jobId: item.jobId,
          attempt: payload.attempt,
          runId: job?.attempt === payload.attempt ? (job.runId ?? payload.runId ?? null) : (payload.runId ?? null),
          runnerId: payload.runnerId ?? null,
          batchKey: payload.batchKey ?? (job?.attempt === payload.attempt ? job.batchKey : null),
        });
      }
      await this.store.outbox.markDone([item.id, ...covers.map((c) => c.id)], this.clock.now());
      this.consecutiveFailures = 0;
      return true;
    } catch (error) {
      const message = errorText(error);
      // Not logged: the far side asked to wait, or is not ready yet; why is kept with the effect.
      if (error instanceof DeferredError) {
        this.totalDeferrals += 1;
        // A dispatcher ends a try once its run-starting request went out (GitHubDispatcher
        // leaves a lookup that fails then to later), so a deferral means nothing was sent.
        await this.store.outbox.markRetry(item.id, Math.max(error.retryAt, this.clock.now()), message, { attempt: false, notSent: item.sentAt === null });
        return false;
      }
      // Not the far side failing: nothing was sent, and no retry would change the answer.
      if (error instanceof DispatchRefusedError) {
        await this.store.outbox.markFailed(item.id, this.clock.now(), message);
        for (const { job } of (await this.batchOf(item)).live)
          await this.lifecycle.recordRunEvent(job.id, job.attempt, { kind: "finished", status: "errored", outcome: "config_error", reason: message });
        return true;
      }
      this.consecutiveFailures += 1;
      this.totalFailures += 1;
      const job = item.kind === "approval" ? null : await this.store.jobs.job(item.jobId);
      const lastWord = item.kind === "publish" && job !== null && isTerminal(job.state);
      if (isPermanent(error) || (!lastWord && item.attempts + 1 >= this.options.maxAttempts)) {
        await this.store.outbox.markFailed(item.id, this.clock.now(), message);
        this.log.warn({ err: error, effect: item.key }, `sending ${item.key} failed after ${item.attempts + 1} tries; it is given up`);
        if (item.kind === "dispatch")
          for (const entry of (await this.batchOf(item)).live) await this.lifecycle.infrastructureFailure(entry.job, `dispatch failed: ${message}`);
      } else {
        const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** item.attempts);
        const retryAt = this.clock.now() + delay / 2 + this.random() * (delay / 2);
        await this.store.outbox.markRetry(item.id, retryAt, message);
        this.log.warn({ err: error, effect: item.key }, `sending ${item.key} failed; it goes again at ${new Date(retryAt).toISOString()}`);
      }
      return false;
    }
  }
}
