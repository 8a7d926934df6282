import type { JobRecord } from "./store/store.js";

/**
 * What one report shows: a job's own check run, or, for a suite that asked for one check
 * run, its suite's. The outbox sends a group's due reports as one, since each shows the
 * group as it is now: the jobs of a suite moving at once cost one update, not one each.
 */
export function reportGroupOf(job: Pick<JobRecord, "id" | "planId" | "spec">): string {
  return job.spec.checkRun === "suite" ? `suite:${job.planId}/${job.spec.suite}` : job.id;
}
