import * as github from "@actions/github";
import { CONCLUSION } from "../app/github/check-run-conclusion.js";
import { annotationMessage, annotationTitle, SUMMARY_LIMIT, withinLimit } from "../app/github/check-run-limits.js";
import type { RunReport } from "../runners/report/run-report.js";
import { printLog } from "./workflow-log.js";

const MAX_ANNOTATIONS = 50; // per request, as the checks API takes them

/** Standalone use: the action reports its own check run with the workflow's token. */
export async function createCheckRun(token: string, name: string, report: RunReport, summary: string, detailsUrl: string | null): Promise<void> {
  const octokit = github.getOctokit(token);
  const { owner, repo } = github.context.repo;
  const pull = github.context.payload.pull_request as { head?: { sha?: string } } | undefined;
  const t = report.totals.tests;
  // A build's diagnostics first, errors before warnings: a compile error is why its suites did not run.
  const diagnostics = report.jobs.flatMap((job) =>
    (job.build?.diagnostics ?? [])
      .filter((d) => d.place?.inTree && d.place.line !== null)
      .map((d) => ({
        path: d.place!.path,
        start_line: d.place!.line!,
        end_line: d.place!.line!,
        ...(d.place!.column !== null ? { start_column: d.place!.column, end_column: d.place!.column } : {}),
        annotation_level: d.severity === "error" ? ("failure" as const) : ("warning" as const),
        title: annotationTitle(`${job.name}: ${d.tool} ${d.severity}`),
        message: annotationMessage([d.message, ...d.notes].join("\n")),
      })),
  );
  const failures = report.jobs
    .flatMap((job) => job.failures.filter((f) => f.location).map((f) => ({ job, f })))
    .map(({ job, f }) => ({
      path: f.location!.file,
      start_line: f.location!.line,
      end_line: f.location!.line,
      annotation_level: "failure" as const,
      title: annotationTitle(`${job.name}: ${[...f.path, f.name].join(" › ")}`),
      message: annotationMessage(f.reason ?? f.status),
    }));
  const annotations = [...diagnostics, ...failures].slice(0, MAX_ANNOTATIONS);
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
