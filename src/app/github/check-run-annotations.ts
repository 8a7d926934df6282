import type { JobReport } from "../../runners/report/run-report.js";
import { annotationMessage, annotationTitle } from "./check-run-limits.js";

/** One check-run annotation, as the checks API takes it. */
export interface Annotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: "failure" | "warning";
  title: string;
  message: string;
}

/**
 * GitHub takes 50 annotations per request and adds up those of several; kto sends at most
 * 50 per check run, with its final update, so that one report costs one request however
 * many failures it has (GitHub Actions, too, shows at most 50 per job). The rest are
 * counted in the summary and listed in the results artifact.
 */
export const ANNOTATIONS_PER_CHECK_RUN = 50;

/**
 * A finished job's annotations, most telling first: a build's errors (why its suites did not
 * run), then where the kernel oopsed, then failing tests, then a build's warnings. One
 * function for the App's check runs and the action's own, so neither can leave a kind out.
 */
export function jobAnnotations(job: JobReport, titlePrefix = ""): Annotation[] {
  const title = (text: string) => annotationTitle(`${titlePrefix}${text}`);
  const diagnostics = (severity: "error" | "warning"): Annotation[] =>
    (job.build?.diagnostics ?? [])
      .filter((d) => d.severity === severity && d.place?.inTree && d.place.line !== null)
      .map((d) => {
        const place = d.place!;
        // The checks API takes columns only for an annotation on one line.
        const columns = place.column !== null ? { start_column: place.column, end_column: place.column } : {};
        return {
          path: place.path,
          start_line: place.line!,
          end_line: place.line!,
          ...columns,
          annotation_level: severity === "error" ? "failure" : "warning",
          title: title(`${d.tool} ${severity}${d.flag ? ` [${d.flag}]` : ""}`),
          message: annotationMessage([d.message, ...d.notes].join("\n")),
        };
      });
  const crash: Annotation[] = job.crash?.location
    ? [
        {
          path: job.crash.location.file,
          start_line: job.crash.location.line,
          end_line: job.crash.location.line,
          annotation_level: "failure",
          title: title("the kernel oopsed here"),
          message: annotationMessage(job.crash.frames.join("\n")),
        },
      ]
    : [];
  const failures: Annotation[] = job.failures
    .filter((f) => f.location)
    .map((f) => ({
      path: f.location!.file,
      start_line: f.location!.line,
      end_line: f.location!.line,
      annotation_level: "failure",
      title: title([...f.path, f.name].join(" › ")),
      message: annotationMessage(f.reason ?? f.status),
    }));
  return [...diagnostics("error"), ...crash, ...failures, ...diagnostics("warning")].slice(0, ANNOTATIONS_PER_CHECK_RUN);
}
