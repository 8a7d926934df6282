import type { TerminalState } from "../../config/job-spec.js";

/**
 * How a finished job shows as a check run, in the App and in the Action alike. A job kto
 * could not run (errored) is a failure: branch protection takes a neutral check as
 * passing, so a job that never ran would let the pull request merge.
 */
export const CONCLUSION = {
  succeeded: "success",
  failed: "failure",
  timed_out: "timed_out",
  cancelled: "cancelled",
  errored: "failure",
  // Never ran because its build did not succeed: the build's own check run carries the failure.
  skipped: "skipped",
} as const satisfies Record<TerminalState, "success" | "failure" | "timed_out" | "cancelled" | "skipped">;
