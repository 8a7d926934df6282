import type { Outcome, TerminalState } from "../config/job-spec.js";
import type { JobRecord } from "./store/store.js";

export interface DispatchRequest {
  /** Same on a redelivery: a dispatcher must start at most one run per key. */
  key: string;
  job: JobRecord;
  runnerId: string;
  /**
   * When an earlier try of this key may first have reached the far side (the process died
   * before recording the outcome, or an error came back after the request was sent), or
   * null: look for the run it started before starting another.
   */
  sentAt: number | null;
}

export interface CancelRequest {
  key: string;
  jobId: string;
  attempt: number;
  runId: string | null;
  runnerId: string | null;
}

/**
 * A dispatch the far side would refuse whatever the retry (a job too large for it): nothing
 * was sent, and the job ends errored with this message, which says what to change.
 */
export class DispatchRefusedError extends Error {
  override readonly name = "DispatchRefusedError";
}

/** How the orchestrator starts and stops runs; GitHub, the local host and tests each have one. */
export interface Dispatcher {
  /** The run it started, or a null runId when the far side does not say yet (found later, by the run's name). */
  dispatch(request: DispatchRequest): Promise<{ runId: string | null }>;
  cancel(request: CancelRequest): Promise<void>;
}

/** What a run tells of itself as it goes (started, alive, finished), through the App's endpoint or in-process; not the results report of a whole run. */
export type RunEvent =
  | { kind: "started"; runId?: string }
  | { kind: "heartbeat" }
  | {
      kind: "finished";
      status: TerminalState;
      outcome?: Outcome;
      reason?: string;
      /** The machine failed, not the test: retried elsewhere while attempts remain. */
      infrastructure?: boolean;
      result?: unknown;
    };
