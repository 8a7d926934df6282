import type { JobState } from "./job-state.js";
import type { JobRecord } from "./store/store.js";

/** What the outbox knows of a report's earlier tries. */
export interface PriorTries {
  /**
   * An earlier try may have reached the far side: its answer was lost, or the process that
   * sent it died. What it appended may be there already.
   */
  mayHaveLanded: boolean;
  /**
   * The state the report was recorded for (the latest of those one send covers). One
   * recorded for an earlier state may find the job finished and show it: it leaves the
   * annotations to the finished state's own report, which follows, so they go once.
   */
  recordedFor?: JobState;
}

/** Shows a job's state where its users look (GitHub check runs); called after each transition, with the job as it is now. */
export interface Publisher {
  publishJob(job: JobRecord, prior?: PriorTries): Promise<void>;
  /** Shows a plan's jobs that wait for approval, together (one check run), as they are now. */
  publishPlan(planId: string): Promise<void>;
}
