import type * as github from "@actions/github";
import { CONCLUSION } from "../app/github/check-run-conclusion.js";
import { ANNOTATIONS_PER_CHECK_RUN, jobAnnotations } from "../app/github/check-run-annotations.js";
import { fallbackOutput, sendOrFallBack, whereResultsAre, type ResultsLinks } from "../app/github/check-run-fallback.js";
import { SUMMARY_LIMIT, withinLimit } from "../app/github/check-run-limits.js";
import type { RunReport } from "../runners/report/run-report.js";
import { printLog } from "./workflow-log.js";

/** Where the action's own check run goes: the repository and the commit the workflow runs for. */
export interface CheckRunPlace {
  owner: string;
  repo: string;
  sha: string;
}

/**
 * Standalone use: the action reports its own check run with the workflow's token, in one
 * request, whatever the run found. Should GitHub refuse its output, it is created again
 * with a short summary, so its conclusion still shows.
 */
export async function createCheckRun(
  octokit: ReturnType<typeof github.getOctokit>,
  place: CheckRunPlace,
  name: string,
  report: RunReport,
  summary: string,
  runUrl: string | null,
): Promise<void> {
  const t = report.totals.tests;
  // Each job's most telling first; the first 50 in all, as one request takes them.
  const annotations = report.jobs.flatMap((job) => jobAnnotations(job, `${job.name}: `)).slice(0, ANNOTATIONS_PER_CHECK_RUN);
  const title = `${t.passed} passed, ${t.failed} failed, ${t.errored} errored, ${t.skipped} skipped`;
  const fields = {
    status: "completed" as const,
    conclusion: CONCLUSION[report.status],
    ...(runUrl ? { details_url: runUrl } : {}),
    output: { title, summary: withinLimit(summary, SUMMARY_LIMIT, "the full summary is in the job summary and the results artifact"), annotations },
  };
  const links: ResultsLinks = runUrl ? [{ text: "the workflow run's job summary and results artifact", url: runUrl }] : [];
  await sendOrFallBack(
    (f: typeof fields) => octokit.rest.checks.create({ owner: place.owner, repo: place.repo, name, head_sha: place.sha, ...f }),
    fields,
    (refusal) => ({ ...fields, output: { ...fallbackOutput(refusal, fields.output, title, whereResultsAre(links)), annotations: [] } }),
  );
  printLog(`check run "${name}" created`);
}
