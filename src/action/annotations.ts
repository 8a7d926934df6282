import type { JobReport } from "../runners/report/run-report.js";
import { diagnosticLine } from "../runners/report/build-report.js";
import { LATE_WARNINGS, type StepAnnotations } from "./step-annotations.js";

/**
 * Why each job that did not succeed failed, as error annotations on the step: a job that
 * stopped without failing tests (errored, timed out, oopsed: where the kernel stopped, when
 * decoded) first, then each failing test at its source line when known, as far as the step
 * has room; `annotations` counts the rest.
 */
export function annotateFailures(jobs: readonly JobReport[], annotations: StepAnnotations): void {
  for (const job of jobs.filter((j) => j.status !== "succeeded" && j.failures.length === 0))
    annotations.error(job.reason, {
      title: `${job.name}: ${job.outcome}`,
      ...(job.crash?.location ? { file: job.crash.location.file, startLine: job.crash.location.line } : {}),
    });
  for (const job of jobs)
    for (const failure of job.failures)
      annotations.error(failure.reason ?? failure.status, {
        title: `${job.name}: ${[...failure.path, failure.name].join(" › ")} ${failure.status}`,
        ...(failure.location ? { file: failure.location.file, startLine: failure.location.line } : {}),
      });
}

/**
 * A build's diagnostics as annotations on their file, line and column (paths relative to
 * the repository, which is the tree), errors first, then the options Kconfig dropped, as far
 * as the step has room; its warnings leave room for the step's own later ones.
 */
export function annotateBuilds(jobs: readonly JobReport[], annotations: StepAnnotations): void {
  for (const job of jobs) {
    if (!job.build) continue;
    for (const severity of ["error", "warning"] as const) {
      for (const diagnostic of job.build.diagnostics.filter((d) => d.severity === severity)) {
        const place = diagnostic.place?.inTree ? diagnostic.place : null;
        const properties = {
          title: `${job.name}: ${diagnostic.tool} ${severity}${diagnostic.flag ? ` [${diagnostic.flag}]` : ""}`,
          ...(place ? { file: place.path, ...(place.line ? { startLine: place.line } : {}), ...(place.column ? { startColumn: place.column } : {}) } : {}),
        };
        const message = [place ? diagnostic.message : diagnosticLine(diagnostic), ...diagnostic.notes].join("\n");
        annotations.annotate(severity, message, properties, severity === "warning" ? LATE_WARNINGS : 0);
      }
    }
    for (const dropped of job.build.droppedOptions)
      annotations.annotate("warning", dropped, { title: `${job.name}: an option Kconfig dropped` }, LATE_WARNINGS);
  }
}
