import { withinLimit } from "../app/github/check-run-limits.js";

/** GitHub Actions drops a step's job summary over 1 MiB whole (and says only that it could not upload it). */
export const JOB_SUMMARY_BYTES = 1024 * 1024;

/**
 * The step's job summary: the run's summary and a link to its results, within 1 MiB of
 * UTF-8. A longer summary is cut, with a note, before the link, which always stays.
 */
export function jobSummary(summary: string, artifactUrl: string | null): string {
  const link = artifactUrl ? `\n[Download the results](${artifactUrl})\n` : "";
  return withinLimit(summary, JOB_SUMMARY_BYTES - Buffer.byteLength(link), "the full summary is summary.md in the results artifact") + link;
}
