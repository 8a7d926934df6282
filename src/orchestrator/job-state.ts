import { TERMINAL_STATES, type TerminalState } from "../config/job-spec.js";

export { TERMINAL_STATES, type TerminalState };
export const JOB_STATES = ["awaiting_approval", "waiting", "queued", "dispatched", "running", ...TERMINAL_STATES] as const;
export type JobState = (typeof JOB_STATES)[number];
export const ACTIVE_STATES = ["dispatched", "running"] as const satisfies readonly JobState[];

export function isTerminal(state: JobState): state is TerminalState {
  return (TERMINAL_STATES as readonly JobState[]).includes(state);
}

/**
 * The job state machine; docs/architecture.md, "Job states", says who causes each move.
 * `dispatched/running → queued` is the infrastructure-failure path (attempts remain); every
 * waiting or active state may be cancelled. A job that boots a build is `waiting` until that
 * build ends: then `queued` if it succeeded, else `skipped`; it is never in the queue before.
 */
const ALLOWED: Record<JobState, readonly JobState[]> = {
  awaiting_approval: ["waiting", "queued", "cancelled", "skipped"],
  waiting: ["queued", "skipped", "cancelled"],
  // queued → errored: no runner can ever run it (a local host without the labels).
  queued: ["dispatched", "cancelled", "awaiting_approval", "errored"],
  dispatched: ["running", "queued", "cancelled", "timed_out", "errored", "succeeded", "failed"],
  running: ["queued", "succeeded", "failed", "timed_out", "cancelled", "errored"],
  succeeded: [],
  failed: [],
  timed_out: [],
  cancelled: [],
  errored: [],
  skipped: [],
};

export function isActive(state: JobState): state is (typeof ACTIVE_STATES)[number] {
  return (ACTIVE_STATES as readonly JobState[]).includes(state);
}

export function canTransition(from: JobState, to: JobState): boolean {
  return ALLOWED[from].includes(to);
}

/** The states a job may be in for a move to `to`. */
export function sourcesOf(to: JobState): JobState[] {
  return JOB_STATES.filter((from) => ALLOWED[from].includes(to));
}
