import type { JobRecord, PlanRecord } from "../../orchestrator/store/store.js";

// GitHub never changes a completed check run's status or conclusion, and shows (and branch
// protection reads) a commit's newest check run of a name. So a hold is one "kto / approval"
// check run, created completed with action_required and never concluded again; the hold
// ends with a second, newer check run of the same name (success when its jobs were approved
// or the commit runs in another plan, cancelled when they will not run), which GitHub then
// shows in its place. Every way a hold ends (a label, `/kto ok-to-test`, a re-run, a push
// that supersedes it, `/kto cancel`) moves jobs out of awaiting_approval, which publishes
// the plan, and the plan's check runs are decided here alone.

/** A plan of the same commit, with its jobs. */
export interface PlanOfCommit {
  plan: PlanRecord;
  jobs: readonly JobRecord[];
}

/** How the end of a hold reads: approved, run by another plan of the commit, or not run at all. */
type HoldEnd = "approved" | "runs in another plan" | "not run";

/** What a plan's approval check runs show now: its hold, the end of its hold, or nothing. */
export type ApprovalShown =
  { phase: "hold"; waiting: readonly JobRecord[] } | { phase: "end"; end: HoldEnd; approved: readonly JobRecord[] } | { phase: "none" };

/** A job that left the wait other than by being cancelled in it was approved. */
const wasApproved = (job: JobRecord): boolean => job.state !== "awaiting_approval" && (job.state !== "cancelled" || job.checkRunId !== null);

/**
 * The one rule for a plan's "kto / approval" check runs, given its jobs and the other plans
 * kto made of the same commit. A plan approved or ended before its hold was shown needs no
 * check run; one whose hold was shown ends it, unless another plan of the commit still
 * holds: that plan's hold stays the commit's truth until it ends in turn.
 */
export function approvalShown(plan: PlanRecord, jobs: readonly JobRecord[], others: readonly PlanOfCommit[]): ApprovalShown {
  const waiting = jobs.filter((j) => j.state === "awaiting_approval");
  if (waiting.length > 0) return { phase: "hold", waiting };
  if (plan.approvalCheckRunId === null && plan.approvalCheckRunRequestedAt === null) return { phase: "none" };
  if (others.some((other) => other.jobs.some((j) => j.state === "awaiting_approval"))) return { phase: "none" };
  const approved = jobs.filter(wasApproved);
  if (approved.length > 0) return { phase: "end", end: "approved", approved };
  const runsElsewhere = others.some((other) => other.plan.createdAt >= plan.createdAt && (other.plan.trusted || other.jobs.some(wasApproved)));
  return { phase: "end", end: runsElsewhere ? "runs in another plan" : "not run", approved };
}
