import { z } from "zod";
import type { Outcome, TerminalState } from "../../config/job-spec.js";
import type { ResultHistory } from "../../orchestrator/store/result-history.js";
import type { JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import { keyedCases, type ResultsJobEntry } from "../../runners/history/results-set.js";
import { boundedPart, jobIdentity } from "../../runners/history/test-identity.js";
import { MAX_CASES_PER_JOB } from "../../runners/report/test-cases.js";
import { isBranchGroup } from "../webhooks/plan-target.js";

/** Levels a case may sit under: deeper than any KTAP or JUnit nesting a kernel suite prints. */
const MAX_CASE_DEPTH = 64;

/** A job's cases as its runner reports them, beside its report: checked, each name bounded. */
export const reportedCasesSchema = z
  .array(
    z.object({
      // Deeper levels are cut, not refused: a report is never lost for its shape.
      path: z.array(z.string().transform(boundedPart)).transform((path) => path.slice(0, MAX_CASE_DEPTH)),
      name: z.string().transform(boundedPart),
      status: z.enum(["passed", "failed", "skipped", "errored"]),
      // A clock that stepped back, or a JUnit time in years, is no duration: dropped, not refused.
      durationMs: z
        .unknown()
        .transform((ms) => (typeof ms === "number" && Number.isFinite(ms) && ms >= 0 && ms < 2 ** 31 ? ms : undefined))
        .optional(),
    }),
  )
  .max(MAX_CASES_PER_JOB);

export interface FinishedWithCases {
  status: TerminalState;
  outcome?: Outcome;
  reason?: string;
  infrastructure?: boolean;
  cases: z.output<typeof reportedCasesSchema>;
  casesOmitted?: number;
}

/** The outcome a finished report implies when it names none, as the job's record takes it. */
function outcomeOf(event: FinishedWithCases): Outcome {
  if (event.outcome) return event.outcome;
  if (event.infrastructure) return "infrastructure";
  if (event.status === "succeeded") return "passed";
  if (event.status === "timed_out" || event.status === "cancelled") return event.status;
  return "failed";
}

/** The job's entry as results.json has it: what history and `kto compare` read alike. */
export function historyEntry(job: JobRecord, event: FinishedWithCases): ResultsJobEntry {
  return {
    name: job.name,
    suite: job.spec.suite,
    matrix: job.spec.matrix,
    status: event.status,
    outcome: outcomeOf(event),
    reason: event.reason ?? "",
    arch: job.spec.arch,
    labels: job.labels,
    cases: event.cases,
    ...(event.casesOmitted ? { casesOmitted: event.casesOmitted } : {}),
  };
}

/**
 * Keeps a finished attempt's results in history, under the job's identity (its suite and
 * matrix, from the plan: a runner names neither) at the plan's commit. A report sent again
 * records nothing more.
 */
export async function recordResults(
  history: Pick<ResultHistory, "record">,
  job: JobRecord,
  plan: PlanRecord,
  event: FinishedWithCases,
  now: number,
): Promise<boolean> {
  if (!plan.repo || !plan.headSha) return false;
  const { cases, ...entry } = historyEntry(job, event);
  const jobKey = jobIdentity({ suite: job.spec.suite, matrix: job.spec.matrix });
  return history.record({
    repo: plan.repo,
    sha: plan.headSha,
    jobKey,
    jobId: job.id,
    attempt: job.attempt,
    planId: plan.id,
    groupKey: plan.groupKey,
    // A pull request's results never stand for its base branch, whatever commit it tested; nor do a held plan's.
    baselineRef: plan.trusted && isBranchGroup(plan.groupKey) ? plan.baseRef : null,
    entry,
    cases: keyedCases(jobKey, cases ?? []).map(({ identity: _identity, ...c }) => c),
    finishedAt: now,
  });
}
