import { ACTIVE_STATES } from "../../orchestrator/job-state.js";
import type { OrchestratorService } from "../../orchestrator/service.js";
import type { JobRecord } from "../../orchestrator/store/store.js";
import { labelsFit } from "../../orchestrator/labels.js";
import { runsOn, type FindRun } from "../github/github-dispatcher.js";

/** A run of the runner workflow that ended, as its workflow_job event names it. */
export interface EndedRun {
  repo: string;
  runId: string;
  /** The `runs-on` labels the run asked for: they name the runner its job was leased to. */
  labels: readonly string[];
  /** The ended matrix job's name, its job's name (the runner workflow names each after it). */
  jobName: string | null;
  reason: string;
}

/** Fails, for the machine, the attempt a run that ended without its final report was; how many attempts that failed. */
export type FailLostRun = (run: EndedRun) => Promise<number>;

/**
 * A run can end before kto has its id: GHES answers a dispatch without it and lists the run
 * only a little later, and a dispatch's answer may still be on its way back. Such a run is
 * still its attempt's, and losing it must give the job back at once, not when its lease
 * runs out. So an id kto has not bound is looked for among the attempts leased to the runner
 * the run asked for and not bound to a run yet, by run-name, as a report's run is.
 */
/**
 * How many unbound attempts one ended run is looked for among. A runner holds one job at a
 * time, so the run's own attempt is among the first few leased to it; the cap keeps a burst
 * of events from turning into a burst of listings, and an attempt it misses still ends when
 * its lease does.
 */
const MAX_LOOKUPS = 3;

export function lostRunFailer(service: Pick<OrchestratorService, "failRun" | "recordRunId" | "reads">, findRun: FindRun): FailLostRun {
  const { reads } = service;

  /** The runners the labels name: a run's job asks for its runner's own label, so one at most. */
  async function runnersNamed(labels: readonly string[]): Promise<Set<string>> {
    const named = new Set<string>();
    for (const env of await reads.runners.list()) {
      const asked = runsOn(env.labels);
      if (asked.length > 0 && labelsFit(asked, labels)) named.add(env.id);
    }
    return named;
  }

  /** The repository's active attempts, leased to one of `named`, whose run kto does not know yet. */
  async function unboundOn(repo: string, named: ReadonlySet<string>): Promise<JobRecord[]> {
    return (await reads.jobs.list({ states: ACTIVE_STATES })).filter(
      (job) => job.repo === repo && job.runId === null && job.runnerId !== null && named.has(job.runnerId),
    );
  }

  return async ({ repo, runId, labels, jobName, reason }) => {
    // One job of a run ended: a batch's run holds several, each on its own runner, and only
    // the one on the runner the labels name is lost.
    const named = await runnersNamed(labels);
    // A run kto knows (almost every run: its report or the dispatcher bound it) is looked up
    // by id alone; only a run no job names is looked for among the unbound attempts.
    if ((await reads.jobs.jobsOfRun(runId)).length > 0) return service.failRun(runId, { runnerIds: named, jobName }, reason);
    // The attempts dispatched longest ago first: a run that ended came from an early dispatch.
    const candidates = (await unboundOn(repo, named)).sort((a, b) => (a.dispatchedAt ?? 0) - (b.dispatchedAt ?? 0));
    for (const job of candidates.slice(0, MAX_LOOKUPS)) {
      const plan = await reads.plans.plan(job.planId);
      // Another attempt on the same runner (the next job, a retry) has a run of its own name.
      if (!plan || (await findRun(job, plan)) !== runId) continue;
      await service.recordRunId(job.id, job.attempt, runId);
      return service.failRun(runId, { runnerIds: named, jobName }, reason);
    }
    return 0;
  };
}
