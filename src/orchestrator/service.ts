import type { Clock } from "./clock.js";
import { stderrLogger, type Logger } from "./logger.js";
import type { Dispatcher, RunEvent } from "./dispatcher.js";
import type { Publisher } from "./publisher.js";
import { JobLifecycle } from "./job-lifecycle.js";
import { DEFAULT_ORCHESTRATOR, type OrchestratorOptions } from "./orchestrator-options.js";
import { OutboxWorker } from "./outbox-worker.js";
import { isActive, isTerminal } from "./job-state.js";
import { publishEffect } from "./job-effects.js";
import { recordEffects } from "./store/transitions.js";
import { QueueLeader } from "./queue-leader.js";
import { ResourceManager, type RunnerPool } from "./resource-manager.js";
import { StatusTracker } from "./status-tracker.js";
import type { DeliveryLog, JobReads, JobRecord, NewPlan, Store } from "./store/store.js";

export interface Health {
  status: "running" | "stopped";
  leader: boolean;
  lastTickAt: number | null;
  outboxPending: number;
  /** Side effects that failed in a row; three or more means the far side (GitHub) is not reachable. */
  effectFailuresInARow: number;
}

export interface OrchestratorDeps {
  store: Store;
  dispatcher: Dispatcher;
  /** Hears of every transition (the App's check runs); none locally. */
  publisher?: Publisher;
  pools: readonly RunnerPool[];
  clock: Clock;
  options: Partial<OrchestratorOptions> & { owner: string };
  /** Where background failures are told; stderr when none is given. */
  logger?: Logger;
}

/**
 * The orchestrator as one service: start brings the pool in and starts the queue leader,
 * the outbox worker and the health and retention schedules; stop takes no new work, lets
 * running jobs finish (or hands them back) within a deadline, and leaves no timer or lock.
 */
export class OrchestratorService {
  /** The store as its callers outside the orchestrator see it: for reading only. */
  readonly reads: JobReads;
  readonly deliveries: DeliveryLog;
  /** The queue's counts and the jobs' histograms, to read: only the lifecycle observes jobs into them. */
  readonly status: Pick<StatusTracker, "snapshot" | "histograms" | "registry">;
  // The service's parts are its own: whoever holds it changes jobs through its verbs only.
  readonly #store: Store;
  readonly #lifecycle: JobLifecycle;
  readonly #resources: ResourceManager;
  readonly #queue: QueueLeader;
  readonly #outbox: OutboxWorker;
  private readonly clock: Clock;
  private readonly options: OrchestratorOptions;
  private readonly log: Logger;
  private timers: (() => void)[] = [];
  private running = false;
  private starting: Promise<void> | null = null;

  constructor(deps: OrchestratorDeps) {
    this.#store = deps.store;
    this.reads = deps.store;
    this.deliveries = deps.store.coordination;
    this.clock = deps.clock;
    this.options = { ...DEFAULT_ORCHESTRATOR, ...deps.options };
    this.log = deps.logger ?? stderrLogger;
    const status = new StatusTracker(this.#store);
    this.status = status;
    this.#lifecycle = new JobLifecycle(
      this.#store,
      this.clock,
      this.options.lifecycle,
      deps.publisher !== undefined,
      (job) => status.observe(job),
      deps.dispatcher.batching,
    );
    this.#resources = new ResourceManager(this.#store, this.#lifecycle, this.clock, deps.pools, this.log);
    // On a queue other replicas may share (PostgreSQL), the one leading it sends the
    // outbox, and only while a third of its lease is left: a send that starts then ends
    // before another replica can take over, unless it outlasts that third.
    const maySend = this.#store.engine === "postgres" ? () => this.#queue.holdsLease(this.options.lockTtlMs / 3) : () => Promise.resolve(true);
    this.#outbox = new OutboxWorker(
      this.#store,
      deps.dispatcher,
      this.#lifecycle,
      this.clock,
      this.options.outbox,
      deps.publisher ?? null,
      Math.random,
      maySend,
      this.log,
    );
    this.#queue = new QueueLeader(
      this.#store,
      this.#lifecycle,
      this.#resources,
      this.clock,
      {
        owner: this.options.owner,
        lockTtlMs: this.options.lockTtlMs,
        pollMs: this.options.pollMs,
        repoCap: this.options.repoCap,
        gather: this.options.gather,
        logger: this.log,
      },
      () => void this.sendEffects(),
    );
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.starting ??= (async () => {
      await this.#resources.sync();
      this.running = true;
      this.#queue.accepting = true;
      this.#queue.start();
      this.every("sending side effects", this.options.outboxPollMs, () => this.#outbox.sendDue());
      this.every("checking runners", this.options.healthCheckMs, async () => {
        await this.#resources.sync();
        const { failed } = await this.#resources.checkHealth();
        if (failed.length) this.#queue.wake();
      });
      const retention = this.options.retention;
      if (retention) this.every("pruning finished plans", retention.everyMs, () => this.#store.plans.pruneFinishedPlans(this.clock.now() - retention.maxAgeMs));
      const history = this.options.historyRetention;
      if (history) this.every("pruning result history", history.everyMs, () => this.#store.history.prune(this.clock.now() - history.maxAgeMs));
    })().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  /**
   * Takes no new work; waits up to `drainMs` for running jobs to finish, then hands the
   * rest back to the queue (another replica, or this one after a restart, runs them).
   */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    // A start that failed has told its caller; stopping only waits for it to settle.
    await this.starting?.catch(() => undefined);
    if (!this.running) {
      await this.#queue.stop(); // a pass run by hand may still hold the queue lock
      return;
    }
    this.#queue.accepting = false;
    const drainMs = options.drainMs ?? 0;
    if (drainMs > 0) await this.waitForIdle(drainMs);
    for (const job of await this.#store.jobs.list({ states: ["dispatched", "running"] })) {
      if (job.runnerId && (await this.ownsRunner(job.runnerId)))
        await this.#lifecycle.infrastructureFailure(job, "the orchestrator stopped before the job finished");
    }
    await this.sendEffects();
    for (const cancel of this.timers) cancel();
    this.timers = [];
    await this.#queue.stop();
    this.running = false;
  }

  async health(): Promise<Health> {
    return {
      status: this.running ? "running" : "stopped",
      leader: this.#queue.leader,
      lastTickAt: this.#queue.lastTickAt,
      outboxPending: await this.#store.outbox.outboxPending(),
      effectFailuresInARow: this.#outbox.consecutiveFailures,
    };
  }

  async submit(plan: NewPlan): Promise<{ cancelled: string[] }> {
    const result = await this.#lifecycle.submit(plan);
    if (result.cancelled.length || plan.publish) void this.sendEffects();
    this.#queue.wake();
    return result;
  }

  async recordRunEvent(jobId: string, attempt: number, event: Parameters<JobLifecycle["recordRunEvent"]>[2] & RunEvent): Promise<JobRecord | null> {
    const job = await this.#lifecycle.recordRunEvent(jobId, attempt, event);
    if (event.kind === "finished") {
      this.#queue.wake(); // capacity freed
      void this.sendEffects();
    }
    return job;
  }

  /**
   * Shows finished jobs again (their check runs), for a reason outside their own moves: a
   * baseline that arrived after them. One publish effect each per `why`, however often asked.
   */
  async republish(jobs: readonly JobRecord[], why: string): Promise<void> {
    const effects = jobs
      .filter((job) => isTerminal(job.state))
      .map((job) => ({ ...publishEffect(job.id, job.attempt, job.state), key: `publish:${job.id}#${job.attempt}:${job.state}:${why}` }));
    if (effects.length === 0) return;
    await this.#store.db.transaction().execute((trx) => recordEffects(trx, this.options.owner, effects, this.clock.now()));
    void this.sendEffects();
  }

  async cancelPlan(planId: string, reason: string): Promise<number> {
    return (await this.cancelJobs(await this.#store.jobs.list({ planId }), reason)).length;
  }

  /** Cancels those of `jobs` not yet finished and sends what that implies; the jobs cancelled. */
  async cancelJobs(jobs: readonly JobRecord[], reason: string): Promise<JobRecord[]> {
    const cancelled: JobRecord[] = [];
    // A job waiting for a build is cancelled before that build: cancelled first, the build would skip it.
    const waitersFirst = [...jobs].sort((a, b) => Number(b.needsJobId !== null) - Number(a.needsJobId !== null));
    for (const job of waitersFirst) if (await this.#lifecycle.cancel(job, reason)) cancelled.push(job);
    if (cancelled.length > 0) await this.sendEffects();
    return cancelled;
  }

  /** Lets jobs waiting for approval into the queue. */
  async approve(jobs: readonly JobRecord[]): Promise<void> {
    for (const job of jobs) await this.#lifecycle.approve(job);
    this.#queue.wake();
    void this.sendEffects();
  }

  /**
   * A run's job that ended without its final report: its attempt failed for the machine,
   * and is retried while attempts remain. A batch's run holds several jobs, each on its own
   * runner, and its siblings may have moved on (retried, ended): only the job leased to one
   * of `ended.runnerIds` is lost, or, when none of them is known any more, the one whose name
   * the ended matrix job carries. The others go on.
   */
  async failRun(runId: string, ended: { runnerIds: ReadonlySet<string>; jobName: string | null }, reason: string): Promise<number> {
    let failed = 0;
    const lost = (job: JobRecord) =>
      ended.runnerIds.size > 0 ? job.runnerId !== null && ended.runnerIds.has(job.runnerId) : ended.jobName !== null && job.name === ended.jobName;
    for (const job of await this.#store.jobs.jobsOfRun(runId)) {
      if (!lost(job)) continue;
      if (isActive(job.state) && (await this.#lifecycle.infrastructureFailure(job, reason))) failed += 1;
    }
    if (failed > 0) void this.sendEffects();
    return failed;
  }

  /** A job its config keeps from running anywhere: it ends as errored, with no retry. */
  async configError(job: JobRecord, reason: string): Promise<void> {
    await this.#lifecycle.configError(job, reason);
    void this.sendEffects();
  }

  /** The workflow run an attempt was dispatched as, once GitHub names it: the run of every job of its batch. */
  async recordRunId(jobId: string, attempt: number, runId: string): Promise<void> {
    await this.#store.jobs.setRunId(jobId, attempt, runId);
    const job = await this.#store.jobs.job(jobId);
    if (job?.attempt === attempt && job.batchKey !== null) await this.#store.jobs.setBatchRunId(job.batchKey, runId);
  }

  /** Lists the pools again, and schedules for what changed. */
  async syncRunners(): Promise<void> {
    await this.#resources.sync();
    this.#queue.wake();
  }

  /** A runner that is gone: its jobs go back to the queue. */
  async takeOffline(runnerId: string, reason: string): Promise<void> {
    await this.#resources.takeOffline(runnerId, reason);
    this.#queue.wake();
  }

  /** One queue pass now, as the poll runs it: the jobs it dispatched. */
  async tick(): Promise<number> {
    return this.#queue.tick();
  }

  /** Sends the effects due now and waits for them; unlike the service's own sends, a failure is the caller's. */
  async sendDue(): Promise<number> {
    return this.#outbox.sendDue();
  }

  /** Asks each pool how its runners are, as the health schedule does: those that failed, and those that replaced them. */
  async checkRunners(): Promise<{ failed: string[]; replaced: string[] }> {
    return this.#resources.checkHealth();
  }

  /** Something changed that may let a queued job run: a pass soon. */
  wake(): void {
    this.#queue.wake();
  }

  /** Side effects that failed and were retried, and those put off because the far side asked to wait, since start. */
  effectTotals(): { failures: number; deferrals: number } {
    return { failures: this.#outbox.totalFailures, deferrals: this.#outbox.totalDeferrals };
  }

  /** Sends what is due now; a failure is told and left to the next poll, which retries it. */
  private async sendEffects(): Promise<void> {
    await this.#outbox.sendDue().catch((err: unknown) => this.log.warn({ err }, "sending side effects failed; the next poll retries"));
  }

  private async ownsRunner(runnerId: string): Promise<boolean> {
    return (await this.#store.runners.list()).some((env) => env.id === runnerId && env.owner === this.options.owner);
  }

  private waitForIdle(limitMs: number): Promise<void> {
    const until = this.clock.now() + limitMs;
    return new Promise((resolve) => {
      const check = async () => {
        const counts = await this.#store.jobs
          .countsByState()
          .catch((err: unknown) => (this.log.warn({ err }, "reading job counts while draining failed"), null));
        if (!counts || counts.dispatched + counts.running === 0 || this.clock.now() >= until) return resolve();
        this.clock.setTimer(() => void check(), 100);
      };
      void check();
    });
  }

  private every(what: string, ms: number, fn: () => Promise<unknown>): void {
    const loop = () => {
      const cancel = this.clock.setTimer(() => {
        this.timers = this.timers.filter((t) => t !== cancel);
        void fn().catch((err: unknown) => this.log.error({ err }, `${what} failed; tried again in ${ms} ms`));
        if (this.running) loop();
      }, ms);
      this.timers.push(cancel);
    };
    loop();
  }
}
