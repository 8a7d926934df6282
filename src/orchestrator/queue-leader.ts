import type { Clock } from "./clock.js";
import { hostOfRunner } from "./labels.js";
import { CoalescedPass } from "./coalesced-pass.js";
import type { JobLifecycle } from "./job-lifecycle.js";
import type { ResourceManager } from "./resource-manager.js";
import { capMayHaveSkipped, queueHead } from "./queue-head.js";
import { assignJobs, type SchedulableJob } from "./scheduler.js";
import type { JobRecord, Store } from "./store/store.js";
import type { Logger } from "./logger.js";

export interface QueueMonitorOptions {
  /** Identifies this process in the leader lock. */
  owner: string;
  lockTtlMs: number;
  /** The safety-net poll: new work and freed capacity wake the queue sooner. */
  pollMs: number;
  repoCap?: number;
  /**
   * How long after a pass that leased jobs the next may lease (ms; none when absent): jobs
   * that become leasable meanwhile go out together, as one dispatch where they can share one.
   */
  gather?: () => Promise<number>;
  logger: Logger;
}

export const QUEUE_LOCK = "queue-monitor";

/**
 * Turns queued jobs into dispatches. Only the replica holding the queue lock acts; it
 * first gives back jobs whose lease lapsed or whose deadline passed, then assigns the
 * queue, in priority then arrival order, to free runners.
 */
export class QueueLeader {
  private cancelPoll: (() => void) | null = null;
  private cancelWake: (() => void) | null = null;
  private cancelGather: (() => void) | null = null;
  private readonly passes = new CoalescedPass(() => this.pass());
  /** When this process last leased jobs: the gather window runs from then. */
  private lastLeaseAt: number | null = null;
  accepting = true;
  lastTickAt: number | null = null;
  leader = false;
  /** When this process's hold on the queue lock runs out unless a pass renews it. */
  private leaderUntil = 0;

  constructor(
    private readonly store: Store,
    private readonly lifecycle: JobLifecycle,
    private readonly resources: ResourceManager,
    private readonly clock: Clock,
    private readonly options: QueueMonitorOptions,
    private readonly onDispatched: () => void = () => undefined,
  ) {}

  start(): void {
    if (this.cancelPoll) return;
    const poll = () => {
      // Often enough, too, that the leader renews its lock well before it runs out.
      this.cancelPoll = this.clock.setTimer(poll, Math.min(this.options.pollMs, this.options.lockTtlMs / 3));
      void this.tick().catch((err: unknown) => this.options.logger.error({ err }, "a queue pass failed; the next one tries again"));
    };
    this.cancelPoll = this.clock.setTimer(poll, 0);
  }

  async stop(): Promise<void> {
    this.cancelPoll?.();
    this.cancelPoll = null;
    this.cancelWake?.();
    this.cancelWake = null;
    this.cancelGather?.();
    this.cancelGather = null;
    // A failed pass was told where it ran; stopping only waits for it to settle.
    await this.passes.current?.catch(() => undefined);
    if (this.leader) await this.store.coordination.releaseLock(QUEUE_LOCK, this.options.owner);
    this.leader = false;
  }

  /**
   * Whether this process leads the queue at `now`: it took the lock and the lock has not run
   * out since (a stalled process may not know another has taken it over).
   */
  private leads(now: number): boolean {
    return this.leader && now < this.leaderUntil;
  }

  /**
   * Whether this process still leads the queue `marginMs` from now, by its own lease and by
   * the lock itself: a replica whose clock runs ahead may have taken a lock this one thinks
   * it holds. What the leader does alone (send the outbox) asks before each step.
   */
  async holdsLease(marginMs: number): Promise<boolean> {
    const until = Math.ceil(this.clock.now() + marginMs);
    return this.leads(until) && (await this.store.coordination.holdsLock(QUEUE_LOCK, this.options.owner, until));
  }

  get started(): boolean {
    return this.cancelPoll !== null;
  }

  /** New work or freed capacity: tick soon, once, however many wake calls come. */
  wake(): void {
    if (!this.cancelPoll || this.cancelWake) return;
    this.cancelWake = this.clock.setTimer(() => {
      this.cancelWake = null;
      void this.tick().catch((err: unknown) => this.options.logger.error({ err }, "a queue pass failed; the next one tries again"));
    }, 0);
  }

  /** One pass; concurrent calls run one after another. Returns the number of jobs dispatched. */
  tick(): Promise<number> {
    return this.passes.run();
  }

  private async pass(): Promise<number> {
    const now = this.clock.now();
    this.leader = await this.store.coordination.acquireLock(QUEUE_LOCK, this.options.owner, this.options.lockTtlMs, now);
    this.leaderUntil = this.leader ? now + this.options.lockTtlMs : 0;
    this.lastTickAt = now;
    if (!this.leader) return 0;

    for (const job of await this.store.jobs.expired(now)) {
      if (job.deadline !== null && job.deadline <= now) await this.lifecycle.timeOut(job);
      else await this.lifecycle.infrastructureFailure(job, "no heartbeat before the lease ran out");
    }
    if (!this.accepting) return 0;

    const free = (await this.resources.freeRunners()).filter((env) => env.free > 0);
    if (free.length === 0) return 0;
    if (await this.gathering(now)) return 0;
    const repoCap = this.options.repoCap;
    const activeByRepo = repoCap === undefined ? new Map<string, number>() : await this.store.jobs.activeByRepo();
    let queued = await queueHead(this.store, free, now);
    let assignments = assignJobs(await this.withPreferences(queued), free, { repoCap, activeByRepo });
    if (repoCap !== undefined && capMayHaveSkipped(queued, new Set(assignments.map((a) => a.jobId)), repoCap, activeByRepo)) {
      queued = await this.store.jobs.dispatchable(now);
      assignments = assignJobs(await this.withPreferences(queued), free, { repoCap, activeByRepo });
    }
    const byId = new Map(queued.map((job) => [job.id, job]));
    const labelsOf = new Map(free.map((env) => [env.id, env.labels]));
    const leases = assignments.map(({ jobId, runnerId }) => ({ job: byId.get(jobId)!, runnerId, runnerLabels: labelsOf.get(runnerId) ?? [] }));
    const dispatched = (await this.lifecycle.dispatchAll(leases)).filter((job) => job !== null).length;
    if (dispatched > 0) {
      this.lastLeaseAt = now;
      this.onDispatched();
    }
    return dispatched;
  }

  /**
   * Whether the gather window since the last lease is still open: then this pass leases
   * nothing and one more runs when it closes, however many wakes come meanwhile.
   */
  private async gathering(now: number): Promise<boolean> {
    if (this.lastLeaseAt === null || !this.options.gather) return false;
    const opensAt = this.lastLeaseAt + (await this.options.gather());
    if (now >= opensAt) return false;
    if (!this.cancelGather && this.cancelPoll) {
      this.cancelGather = this.clock.setTimer(() => {
        this.cancelGather = null;
        void this.tick().catch((err: unknown) => this.options.logger.error({ err }, "a queue pass failed; the next one tries again"));
      }, opensAt - now);
    }
    return true;
  }

  /** Each job that boots a build with the runner that built it, whose host has the outputs. */
  private async withPreferences(jobs: readonly JobRecord[]): Promise<SchedulableJob[]> {
    const builds = [...new Set(jobs.flatMap((job) => (job.needsJobId ? [job.needsJobId] : [])))];
    if (builds.length === 0) return [...jobs];
    const ranOn = await this.store.jobs.runnersOf(builds);
    const labelsOf = new Map((await this.store.runners.list()).map((runner) => [runner.id, runner.labels]));
    return jobs.map((job) => {
      if (!job.needsJobId) return job;
      const runner = ranOn.get(job.needsJobId) ?? null;
      const labels = runner === null ? undefined : labelsOf.get(runner);
      return { ...job, prefers: runner, prefersHost: labels ? hostOfRunner(labels) : null };
    });
  }
}
