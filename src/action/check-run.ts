import * as core from "@actions/core";
import * as github from "@actions/github";
import type { RunReport } from "../runners/report/run-report.js";

const CONCLUSION = { succeeded: "success", failed: "failure", timed_out: "timed_out", cancelled: "cancelled", errored: "failure" } as const;
const MAX_ANNOTATIONS = 50; // per request, as the checks API takes them

/** Standalone use: the action reports its own check run with the workflow's token. */
export async function createCheckRun(token: string, name: string, report: RunReport, summary: string, detailsUrl: string | null): Promise<void> {
  const octokit = github.getOctokit(token);
  const { owner, repo } = github.context.repo;
  const pull = github.context.payload.pull_request as { head?: { sha?: string } } | undefined;
  const t = report.totals.tests;
  const annotations = report.jobs
    .flatMap((job) => job.failures.filter((f) => f.location).map((f) => ({ job, f })))
    .slice(0, MAX_ANNOTATIONS)
    .map(({ job, f }) => ({
      path: f.location!.file,
      start_line: f.location!.line,
      end_line: f.location!.line,
      annotation_level: "failure" as const,
      title: `${job.name}: ${[...f.path, f.name].join(" › ")}`,
      message: (f.reason ?? f.status).slice(0, 64 * 1024),
    }));
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
      summary: summary.slice(0, 65_535),
      annotations,
    },
  });
  core.info(`check run "${name}" created`);
}
