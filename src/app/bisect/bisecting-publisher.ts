import { isTerminal } from "../../orchestrator/job-state.js";
import type { PriorTries, Publisher } from "../../orchestrator/publisher.js";
import type { JobRecord } from "../../orchestrator/store/store.js";

/**
 * The publisher with a bisection's steps moved on as their jobs end. Every end of a job
 * passes here, through the outbox, whatever ended it: a report, a lost run, a lease that
 * ran out, a build that kept it from running. The outbox retries a failure, and the
 * bisection moves on once however often it hears of one end.
 */
export function bisectingPublisher(inner: Publisher, jobEnded: (job: JobRecord) => Promise<void>): Publisher {
  return {
    async publishJob(job: JobRecord, prior?: PriorTries): Promise<void> {
      await inner.publishJob(job, prior);
      if (isTerminal(job.state)) await jobEnded(job);
    },
    publishPlan: (planId) => inner.publishPlan(planId),
  };
}
