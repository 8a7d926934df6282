import * as core from "@actions/core";
import type { JobReport } from "../runners/report/run-report.js";
import { diagnosticLine } from "../runners/report/build-report.js";

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
  // An oops decoded with its build's vmlinux is annotated where the kernel stopped.
  for (const job of troubled)
    core.error(job.reason, {
      title: `${job.name}: ${job.outcome}`,
      ...(job.crash?.location ? { file: job.crash.location.file, startLine: job.crash.location.line } : {}),
    });
  if (failures.length > limit) core.notice(`${failures.length - limit} more failing tests are listed in the job summary and results.json`);
  return Math.min(limit, failures.length) + troubled.length;
}

/**
 * A build's diagnostics as annotations on their file, line and column (paths relative to
 * the repository, which is the tree), errors first; at most `limit` of each severity,
 * as GitHub shows no more a step. Returns how many were made.
 */
export function annotateBuilds(jobs: readonly JobReport[], limit = ANNOTATION_LIMIT): number {
  let made = 0;
  for (const job of jobs) {
    if (!job.build) continue;
    for (const severity of ["error", "warning"] as const) {
      const shown = job.build.diagnostics.filter((d) => d.severity === severity).slice(0, limit);
      for (const diagnostic of shown) {
        const place = diagnostic.place?.inTree ? diagnostic.place : null;
        const properties = {
          title: `${job.name}: ${diagnostic.tool} ${severity}${diagnostic.flag ? ` [${diagnostic.flag}]` : ""}`,
          ...(place ? { file: place.path, ...(place.line ? { startLine: place.line } : {}), ...(place.column ? { startColumn: place.column } : {}) } : {}),
        };
        const message = [place ? diagnostic.message : diagnosticLine(diagnostic), ...diagnostic.notes].join("\n");
        if (severity === "error") core.error(message, properties);
        else core.warning(message, properties);
        made += 1;
      }
    }
    for (const dropped of job.build.droppedOptions.slice(0, limit)) core.warning(dropped, { title: `${job.name}: an option Kconfig dropped` });
  }
  return made;
}
