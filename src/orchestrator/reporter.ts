import type { JobRecord } from "./store/store.js";

/** Shows a job's state where its users look (GitHub check runs); called after each transition, with the job as it is now. */
export interface Reporter {
  report(job: JobRecord): Promise<void>;
  /** Shows a plan's jobs that wait for approval, together (one check run), as they are now. */
  reportPlan(planId: string): Promise<void>;
}
