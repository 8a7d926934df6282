import { buildNeeded } from "../config/job-spec.js";
import type { Clock } from "./clock.js";
import type { DispatchBatching, Lease, RunEvent } from "./dispatcher.js";
import { batchLeases } from "./dispatch-batches.js";
import { batchKeyOf, cancelEffect, dispatchEffect, planEffects, releaseEffects, shownEffects } from "./job-effects.js";
import { ACTIVE_STATES, isTerminal } from "./job-state.js";
import type { JobRecord, NewPlan, PlanRecord, Store, TransitionRequest } from "./store/store.js";

export { planEffects } from "./job-effects.js";

/** The name of the build a job boots, as its config gives it. */
function buildNameOf(job: JobRecord): string {
  return buildNeeded(job.spec) ?? job.needsJobId ?? "";
}

export interface LifecycleOptions {
  /** A dispatched or running job with no heartbeat for this long is given back. */
  leaseMs: number;
  /** Added to a job's timeout before the orchestrator cancels it itself. */
  deadlineGraceMs: number;
  /** First retry delay after an infrastructure failure; doubles each attempt. */
  retryBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_LIFECYCLE: LifecycleOptions = { leaseMs: 120_000, deadlineGraceMs: 60_000, retryBackoffMs: 5_000, maxBackoffMs: 300_000 };

/** What a transition's publish effects are built from: the job as it was before it moves. */
type Moving = Pick<JobRecord, "id" | "planId" | "state" | "attempt">;

/**
 * Every move of a job goes through here: each is one store transaction carrying the side
 * effects it implies (dispatch, cancel) in the outbox, guarded by the job's state and
 * attempt so that a late or repeated event changes nothing.
 */
export class JobLifecycle {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: LifecycleOptions = DEFAULT_LIFECYCLE,
    /** Record a publish effect with every transition (the App's check runs). */
    private readonly reporting = false,
    /** Hears of every job this lifecycle moved, as it is now (the metrics' histograms). */
    private readonly onMoved: (job: JobRecord) => void = () => undefined,
    /** How a pass's leases share dispatches (the dispatcher's); absent, one dispatch per job. */
    private readonly batching?: DispatchBatching,
  ) {}

  private moved<T extends JobRecord | null>(job: T): T {
    if (job) this.onMoved(job);
    return job;
  }

  /** Every transition goes through here, so a publisher hears of each one it shows. */
  private async transition(job: Moving, request: TransitionRequest): Promise<JobRecord | null> {
    return this.moved(await this.store.transition(this.shown(job, request)));
  }

  /**
   * The request with the publish effects of what it shows added, when this lifecycle
   * publishes; `shown` false for a move nobody needs to see on its own.
   */
  private shown(job: Moving, request: TransitionRequest, shown = true): TransitionRequest {
    if (!this.reporting) return request;
    const attempt = Number(request.set?.attempt ?? job.attempt);
    const effects = [...(request.effects ?? [])];
    if (shown) effects.push(...shownEffects(job, attempt, request.to, `${request.jobId}#${attempt}:${request.to}`));
    return { ...request, effects, released: releaseEffects(true) };
  }

  async dispatch(job: JobRecord, runnerId: string): Promise<JobRecord | null> {
    return (await this.dispatchAll([{ job, runnerId, runnerLabels: [] }]))[0]!;
  }

  /**
   * A scheduling pass's leases in one transaction, so one commit: a null for each job
   * another replica or run event moved first. The leases that may share a run are one
   * batch with one dispatch effect, recorded with them, so a crash loses none and repeats none.
   */
  async dispatchAll(leases: readonly Lease[]): Promise<(JobRecord | null)[]> {
    const now = this.clock.now();
    const batches = batchLeases(leases, await this.plansOf(leases), this.batching);
    const requestOf = new Map<string, TransitionRequest>();
    for (const batch of batches) {
      const effect = dispatchEffect(batch);
      const batchKey = batchKeyOf(batch[0]!.job);
      for (const { job, runnerId } of batch) {
        // Not shown on its own: the run's start follows in seconds and shows it running, which
        // saves a check run update per job; a check run created after this shows it dispatched.
        const request = this.shown(
          job,
          {
            jobId: job.id,
            from: ["queued"],
            to: "dispatched",
            attempt: job.attempt,
            set: {
              runner_id: runnerId,
              lease_expires: now + this.options.leaseMs,
              deadline: now + job.spec.timeoutMs + this.options.deadlineGraceMs,
              run_id: null,
              batch_key: batchKey,
            },
            reason: `leased to ${runnerId}`,
            effects: [effect],
            skipLocked: true,
            now,
          },
          false,
        );
        requestOf.set(job.id, request);
      }
    }
    const requests = leases.map(({ job }) => requestOf.get(job.id)!);
    return (await this.store.transitionAll(requests)).map((job) => this.moved(job));
  }

  /** The plans of leased jobs, read only where batches are made from them. */
  private async plansOf(leases: readonly Lease[]): Promise<Map<string, PlanRecord>> {
    const plans = new Map<string, PlanRecord>();
    if (!this.batching) return plans;
    for (const planId of new Set(leases.map(({ job }) => job.planId))) {
      const plan = await this.store.plans.plan(planId);
      if (plan) plans.set(planId, plan);
    }
    return plans;
  }

  /** A new plan with its jobs; in its transaction, its group's older plans are cancelled. */
  async submit(plan: NewPlan): Promise<{ cancelled: string[]; duplicate: boolean }> {
    return this.store.plans.submitPlan(plan, planEffects(plan.publish === true));
  }

  /** The machine failed the job: back to the queue with backoff while attempts remain, else errored. */
  async infrastructureFailure(job: JobRecord, reason: string, result?: unknown): Promise<JobRecord | null> {
    const now = this.clock.now();
    const cancel = cancelEffect(job, reason);
    if (job.attempt < job.maxAttempts) {
      const backoff = Math.min(this.options.maxBackoffMs, this.options.retryBackoffMs * 2 ** (job.attempt - 1));
      return this.transition(job, {
        jobId: job.id,
        from: ACTIVE_STATES,
        to: "queued",
        attempt: job.attempt,
        set: { attempt: job.attempt + 1, runner_id: null, lease_expires: null, deadline: null, run_id: null, not_before: now + backoff, reason },
        reason: `infrastructure: ${reason}`,
        effects: cancel,
        now,
      });
    }
    return this.transition(job, {
      jobId: job.id,
      from: ACTIVE_STATES,
      to: "errored",
      attempt: job.attempt,
      set: {
        outcome: "infrastructure",
        reason: `${reason} (after ${job.attempt} attempts)`,
        ...(result === undefined ? {} : { result: JSON.stringify(result) }),
      },
      reason,
      effects: cancel,
      now,
    });
  }

  /** A job no retry can help, because its config asks for what cannot be had here: errored, naming the field. */
  async configError(job: JobRecord, reason: string): Promise<JobRecord | null> {
    return this.transition(job, {
      jobId: job.id,
      from: ["queued"],
      to: "errored",
      attempt: job.attempt,
      set: { outcome: "config_error", reason },
      reason: "no runner fits",
      now: this.clock.now(),
    });
  }

  async timeOut(job: JobRecord): Promise<JobRecord | null> {
    return this.transition(job, {
      jobId: job.id,
      from: ACTIVE_STATES,
      to: "timed_out",
      attempt: job.attempt,
      set: { outcome: "timed_out", reason: "past its timeout plus grace; cancelled by the orchestrator" },
      reason: "deadline passed",
      effects: cancelEffect(job, "deadline passed"),
      now: this.clock.now(),
    });
  }

  /**
   * Cancels the job as it is now. The effects (which run to cancel) are built from the
   * copy given, so the transition holds only while the job is still in that state and
   * attempt; a job that moved meanwhile is read again and cancelled as it is.
   */
  async cancel(job: JobRecord, reason: string): Promise<JobRecord | null> {
    let current: JobRecord | null = job;
    for (let tries = 0; current && !isTerminal(current.state) && tries < 5; tries++) {
      const done = await this.transition(current, {
        jobId: current.id,
        from: [current.state],
        attempt: current.attempt,
        to: "cancelled",
        set: { outcome: "cancelled", reason },
        reason,
        effects: cancelEffect(current, reason),
        now: this.clock.now(),
      });
      if (done) return done;
      current = await this.store.jobs.job(job.id);
    }
    return null;
  }

  /**
   * An approved job gets a check run of its own, and its plan's approval check run says so
   * (shownEffects). One that boots a build waits for it (and is released at once if that
   * build has ended).
   */
  async approve(job: JobRecord): Promise<JobRecord | null> {
    const waits = job.needsJobId !== null;
    return this.transition(job, {
      jobId: job.id,
      from: ["awaiting_approval"],
      to: waits ? "waiting" : "queued",
      ...(waits ? { set: { reason: `waiting for build ${buildNameOf(job)}` } } : {}),
      reason: "approved",
      now: this.clock.now(),
    });
  }

  /** An event from the run of `attempt`; one from an older attempt or a finished job is ignored. */
  async recordRunEvent(jobId: string, attempt: number, event: RunEvent): Promise<JobRecord | null> {
    const job = await this.store.jobs.job(jobId);
    if (!job || job.attempt !== attempt) return null;
    const now = this.clock.now();
    switch (event.kind) {
      case "started":
        return this.transition(job, {
          jobId,
          from: ["dispatched"],
          to: "running",
          attempt,
          set: { lease_expires: now + this.options.leaseMs, ...(event.runId ? { run_id: event.runId } : {}) },
          reason: "started",
          now,
        });
      case "heartbeat":
        await this.store.jobs.renewLease(jobId, attempt, now + this.options.leaseMs);
        return this.store.jobs.job(jobId);
      case "finished":
        return this.finish(job, event, now);
    }
  }

  private async finish(job: JobRecord, event: Extract<RunEvent, { kind: "finished" }>, now: number): Promise<JobRecord | null> {
    if (event.infrastructure) return this.infrastructureFailure(job, event.reason ?? "the runner failed", event.result);
    const common = {
      outcome: event.outcome ?? null,
      reason: event.reason ?? null,
      result: event.result === undefined ? null : JSON.stringify(event.result),
    };
    if (event.status === "failed" && job.retriesLeft > 0) {
      // The suite asked for retries: run the test again; a later pass is recorded as flaky.
      return this.transition(job, {
        jobId: job.id,
        from: ACTIVE_STATES,
        to: "queued",
        attempt: job.attempt,
        set: {
          ...common,
          attempt: job.attempt + 1,
          retries_left: job.retriesLeft - 1,
          failed_attempts: job.failedAttempts + 1,
          max_attempts: job.maxAttempts + 1,
          runner_id: null,
          lease_expires: null,
          deadline: null,
          run_id: null,
          not_before: now,
        },
        reason: `test failure, retrying (${job.retriesLeft - 1} retries left)`,
        now,
      });
    }
    const retried = event.status === "succeeded" && job.failedAttempts > 0;
    return this.transition(job, {
      jobId: job.id,
      from: ACTIVE_STATES,
      to: event.status,
      attempt: job.attempt,
      set: { ...common, flaky: retried ? 1 : 0 },
      reason: event.reason ?? event.status,
      now,
    });
  }
}
