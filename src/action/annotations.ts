import * as core from "@actions/core";
import type { JobReport } from "../runners/report/run-report.js";

/** GitHub shows at most 10 error annotations per step and 50 per job; more are noise. */
export const ANNOTATION_LIMIT = 10;

/** One error annotation per failing test, at its source line when known; the rest summarised. */
export function annotateFailures(jobs: readonly JobReport[], limit = ANNOTATION_LIMIT): number {
  const failures = jobs.flatMap((job) => job.failures.map((failure) => ({ job, failure })));
  for (const { job, failure } of failures.slice(0, limit)) {
    const title = `${job.name}: ${[...failure.path, failure.name].join(" › ")} ${failure.status}`;
    core.error(failure.reason ?? failure.status, {
      title,
      ...(failure.location ? { file: failure.location.file, startLine: failure.location.line } : {}),
    });
  }
  const troubled = jobs.filter((job) => job.status !== "succeeded" && job.failures.length === 0);
  for (const job of troubled) core.error(job.reason, { title: `${job.name}: ${job.outcome}` });
  if (failures.length > limit) core.notice(`${failures.length - limit} more failing tests are listed in the job summary and results.json`);
  return Math.min(limit, failures.length) + troubled.length;
}
