import type { Outcome, TerminalState } from "../config/job-spec.js";
import type { JobRecord, PlanRecord } from "./store/store.js";

/** One job of a dispatch, bound to the runner it was leased. */
export interface BatchEntry {
  job: JobRecord;
  runnerId: string;
}

/** A job leased in a scheduling pass, with the labels of its runner: what a batch's size is measured by. */
export interface Lease extends BatchEntry {
  runnerLabels: readonly string[];
}

/** A scheduling pass's leases of one repository, sent as one dispatch (one run). */
export interface DispatchRequest {
  /** Same on a redelivery: a dispatcher must start at most one run per key. */
  key: string;
  /** The jobs still leased at the attempt the batch was made with; a job moved on since is left out. */
  entries: BatchEntry[];
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
  /** The batch the attempt went out in (null for one recorded before batches, or never dispatched). */
  batchKey: string | null;
}

/**
 * A dispatch the far side would refuse whatever the retry (a job too large for it): nothing
 * was sent, and the job ends errored with this message, which says what to change.
 */
export class DispatchRefusedError extends Error {
  override readonly name = "DispatchRefusedError";
}

/**
 * Which of a pass's leases one dispatch may carry together. Leases whose plans have the
 * same `groupOf` may share a run, up to `maxJobs` of them and `maxChars` of their
 * `entryChars` (what the far side's inputs can hold).
 */
export interface DispatchBatching {
  maxJobs: number;
  maxChars: number;
  entryChars(lease: Lease, plan: PlanRecord): number;
  groupOf(plan: PlanRecord): string;
}

/** How the orchestrator starts and stops runs; GitHub, the local host and tests each have one. */
export interface Dispatcher {
  /** How leases share a dispatch; absent, each job is dispatched alone. */
  readonly batching?: DispatchBatching;
  /** The run it started for all of the request's jobs, or a null runId when the far side does not say yet (found later, by the run's name). */
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
      /** Every case's result, for the App's history; the orchestrator keeps none of it. */
      cases?: unknown;
      casesOmitted?: number;
    };
