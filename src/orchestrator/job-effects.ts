import { ACTIVE_STATES, isTerminal, type JobState } from "./job-state.js";
import type { OutboxKind } from "./store/schema.js";
import type { BatchEntry } from "./dispatcher.js";
import type { Effect, JobRecord, PlanEffects, ReleaseEffects } from "./store/store.js";

// The side effects job moves imply, as the outbox records them: made here for the job
// lifecycle, and nowhere else.

/** A batch is named after its first job's attempt, which no other batch can lease. */
export function batchKeyOf(lead: Pick<JobRecord, "id" | "attempt">): string {
  return `${lead.id}#${lead.attempt}`;
}

export function dispatchKey(job: Pick<JobRecord, "id" | "attempt">): string {
  return `dispatch:${batchKeyOf(job)}`;
}

/** What the outbox keeps of a batch's jobs: the attempt and runner each was leased at. */
export interface DispatchEntry {
  jobId: string;
  attempt: number;
  runnerId: string;
}

/** The payload of a dispatch effect (one recorded before batches lists no entries: its job alone). */
export interface DispatchPayload {
  attempt: number;
  runnerId: string;
  entries?: DispatchEntry[];
}

/**
 * One dispatch for a batch's jobs. Every job's lease carries the same effect, and the store
 * keeps one per key, so the batch is recorded once, by whichever of its leases took.
 */
export function dispatchEffect(batch: readonly BatchEntry[]): Effect {
  const lead = batch[0]!;
  const payload: DispatchPayload = {
    attempt: lead.job.attempt,
    runnerId: lead.runnerId,
    entries: batch.map(({ job, runnerId }) => ({ jobId: job.id, attempt: job.attempt, runnerId })),
  };
  return { kind: "dispatch", key: dispatchKey(lead.job), payload, priority: effectPriority("dispatch") };
}

/**
 * The order effects go out in, highest first, when more are due than GitHub takes at once:
 * a dispatch or cancel puts hardware to work or frees it; a conclusion (a job's last check
 * run update, a plan's approval) is what merges wait for; the rest is for people to read.
 */
export function effectPriority(kind: OutboxKind, to?: JobState): number {
  if (kind === "dispatch" || kind === "cancel") return 2;
  if (kind === "approval" || (to !== undefined && isTerminal(to))) return 1;
  return 0;
}

export function cancelEffect(job: Pick<JobRecord, "id" | "attempt" | "state" | "runId" | "runnerId" | "batchKey">, why: string): Effect[] {
  if (!(ACTIVE_STATES as readonly JobState[]).includes(job.state)) return [];
  return [
    {
      kind: "cancel",
      key: `cancel:${job.id}#${job.attempt}`,
      // The attempt's batch, kept: by the time the cancel goes out the job may be in another.
      payload: { attempt: job.attempt, runId: job.runId, runnerId: job.runnerId, batchKey: job.batchKey, why },
      priority: effectPriority("cancel"),
    },
  ];
}

/**
 * A job's check run shows the job as it is now. A job enters a state at most once per
 * attempt, so the job, attempt and state it moved to make a key no other report has.
 */
export function publishEffect(jobId: string, attempt: number, to: JobState): Effect {
  return { kind: "publish", key: `publish:${jobId}#${attempt}:${to}`, payload: { to }, jobId, priority: effectPriority("publish", to) };
}

/** The plan's approval check run shows the plan as it is now (its job_id is the plan's id); `cause` is what changed it. */
export function approvalEffect(planId: string, cause: string): Effect {
  return { kind: "approval", key: `approval:${planId}:${cause}`, payload: {}, jobId: planId, priority: effectPriority("approval") };
}

/**
 * What a job's move shows, wherever it comes from. A job waiting for approval shows only in
 * its plan's approval check run, so every way out of the wait (approved, cancelled,
 * superseded, skipped) publishes the plan's, whose publisher alone decides how the hold
 * ends on GitHub; a job that leaves the wait for the queue also gets a check run of its own.
 */
export function shownEffects(job: Pick<JobRecord, "id" | "planId" | "state">, attempt: number, to: JobState, cause: string): Effect[] {
  if (job.state !== "awaiting_approval") return [publishEffect(job.id, attempt, to)];
  const plan = approvalEffect(job.planId, cause);
  return isTerminal(to) ? [plan] : [publishEffect(job.id, attempt, to), plan];
}

/** A dependent released to the queue or skipped when its build ends shows as it is now, where the lifecycle publishes. */
export function releaseEffects(shown: boolean): ReleaseEffects | undefined {
  return shown ? (job, to) => [publishEffect(job.id, job.attempt, to)] : undefined;
}

/** What submitting a plan implies: cancels of the older plans' active jobs, and, shown, check runs. */
export function planEffects(shown: boolean): PlanEffects {
  return {
    superseded(job, planId) {
      const effects = cancelEffect(job, "superseded");
      if (shown) effects.push(...shownEffects(job, job.attempt, "cancelled", `superseded by ${planId}`));
      return effects;
    },
    submitted(job) {
      if (!shown) return [];
      // However many jobs wait, one check run asks for the approval.
      return [job.state === "awaiting_approval" ? approvalEffect(job.planId, "submitted") : publishEffect(job.id, 1, job.state)];
    },
    released: releaseEffects(shown) ?? (() => []),
  };
}
