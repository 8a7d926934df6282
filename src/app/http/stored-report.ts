import type { JobReport } from "../../runners/report/run-report.js";

/** A finished job's report as a runner sends it (checked by jobReportSchema); a build's lists the outputs it hands on. */
export type ReceivedReport = JobReport & { artifactUrl?: string | null };

/** A report as the App keeps it: bounded, whatever the runner sent. */
export type StoredReport = ReceivedReport & {
  /** Failures the runner reported past the ones kept here; its results artifact lists them all. */
  failuresOmitted?: number;
};

/** The most one stored report takes, as JSON. */
export const STORED_REPORT_BYTES = 64 * 1024;

/** Failures a report keeps: as many as its check run shows, as annotations and in its summary. */
export const STORED_FAILURES = 50;

/** The most of a report's reason (beside its result) that the job keeps, in characters. */
export const STORED_REASON_CHARS = 4096;

/**
 * Ever shorter texts and lists, tried in turn until the report fits. The last always fits:
 * a report has a few dozen texts, each then at most 32 characters (6 bytes each as JSON).
 */
const CUTS: readonly { text: number; items: number }[] = [
  { text: Infinity, items: STORED_FAILURES },
  { text: 4096, items: STORED_FAILURES },
  { text: 1024, items: STORED_FAILURES },
  { text: 256, items: STORED_FAILURES },
  { text: 256, items: 10 },
  { text: 32, items: 1 },
];

function cutText(text: string, length: number): string {
  if (text.length <= length) return text;
  // Never half of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text[length - 2] ?? "") ? length - 2 : length - 1;
  return `${text.slice(0, end)}…`;
}

function shorten<T>(value: T, cut: { text: number; items: number }): T {
  if (typeof value === "string") return cutText(value, cut.text) as T;
  if (Array.isArray(value)) return value.slice(0, cut.items).map((item: unknown) => shorten(item, cut)) as T;
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, shorten(field, cut)])) as T;
  return value;
}

/** A finished job's reason as the App keeps it: a runner may quote its test's output there. */
export function storedReason(reason: string): string {
  return cutText(reason, STORED_REASON_CHARS);
}

const bytesOf = (report: StoredReport) => Buffer.byteLength(JSON.stringify(report));

/**
 * What the App stores of a runner's report: its counts and fields as sent while they fit in
 * STORED_REPORT_BYTES, its first STORED_FAILURES failures (in the order its results list
 * them) with the number left out, and texts and lists cut shorter only as far as needed.
 * A report with thousands of failures stays a few kilobytes in the store, and its check
 * run is built from this.
 */
export function storedReport(report: ReceivedReport): StoredReport {
  let stored: StoredReport = report;
  for (const cut of CUTS) {
    const failures = report.failures.slice(0, cut.items);
    const omitted = report.failures.length - failures.length;
    stored = shorten(
      {
        ...report,
        // A matrix's names are its keys: the only object whose keys are not the schema's.
        matrix: Object.fromEntries(
          Object.entries(report.matrix)
            .slice(0, cut.items)
            .map(([name, value]) => [cutText(name, cut.text), value]),
        ),
        failures,
        ...(omitted > 0 ? { failuresOmitted: omitted } : {}),
      },
      cut,
    );
    // A build's outputs are a few entries, each with the digest a dependent checks its copy
    // against: kept whole unless nothing else is left to cut (then a digest cut short hands on
    // nothing, never a wrong file).
    const kept: StoredReport = report.build && stored.build ? { ...stored, build: { ...stored.build, files: report.build.files } } : stored;
    if (bytesOf(kept) <= STORED_REPORT_BYTES) return kept;
  }
  return stored;
}
