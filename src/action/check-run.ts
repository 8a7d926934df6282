import * as github from "@actions/github";
import { CONCLUSION } from "../app/github/check-run-conclusion.js";
import { ANNOTATIONS_PER_CHECK_RUN, jobAnnotations } from "../app/github/check-run-annotations.js";
import { SUMMARY_LIMIT, withinLimit } from "../app/github/check-run-limits.js";
import type { RunReport } from "../runners/report/run-report.js";
import { printLog } from "./workflow-log.js";

/** Standalone use: the action reports its own check run with the workflow's token. */
export async function createCheckRun(token: string, name: string, report: RunReport, summary: string, detailsUrl: string | null): Promise<void> {
  const octokit = github.getOctokit(token);
  const { owner, repo } = github.context.repo;
  const pull = github.context.payload.pull_request as { head?: { sha?: string } } | undefined;
  const t = report.totals.tests;
  // Each job's most telling first; the first 50 in all, as one request takes them.
  const annotations = report.jobs.flatMap((job) => jobAnnotations(job, `${job.name}: `)).slice(0, ANNOTATIONS_PER_CHECK_RUN);
  await octokit.rest.checks.create({
    owner,
    repo,
    name,
    head_sha: pull?.head?.sha ?? github.context.sha,
    status: "completed",
    conclusion: CONCLUSION[report.status],
    ...(detailsUrl ? { details_url: detailsUrl } : {}),
    output: {
      title: `${t.passed} passed, ${t.failed} failed, ${t.errored} errored, ${t.skipped} skipped`,
      summary: withinLimit(summary, SUMMARY_LIMIT, "the full summary is in the job summary and the results artifact"),
      annotations,
    },
  });
  printLog(`check run "${name}" created`);
}
