import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobSpec } from "../../config/job-spec.js";
import type { RunResult } from "../types.js";
import { writeJunit } from "./junit-writer.js";
import type { JobReport, RunReport } from "./run-report.js";
import { summaryMarkdown } from "./summary-markdown.js";
import { caseResults, type CaseResult } from "./test-cases.js";

/** A job as results.json keeps it: its report, where it ran, and every case's result, which `kto compare` reads. */
export interface ResultsFileJob extends JobReport {
  arch: string;
  labels: string[];
  cases: CaseResult[];
  /** Cases past MAX_CASES_PER_JOB, counted and not listed. */
  casesOmitted: number;
}

/** results.json, junit.xml and summary.md of a run, beside its jobs/ folder. */
export async function writeResultsFolder(outDir: string, report: RunReport, results: readonly { spec: JobSpec; result: RunResult }[]): Promise<void> {
  const byName = new Map(results.map((r) => [r.spec.id, r]));
  const jobs: (JobReport | ResultsFileJob)[] = report.jobs.map((job) => {
    const ran = byName.get(job.name);
    return ran ? { ...job, arch: ran.spec.arch, labels: ran.spec.labels, ...caseResults(ran.result.results) } : job;
  });
  await writeFile(join(outDir, "results.json"), `${JSON.stringify({ ...report, jobs }, null, 2)}\n`);
  await writeFile(
    join(outDir, "junit.xml"),
    writeJunit(
      results.map(({ spec, result }) => ({
        name: spec.id,
        results: result.results,
        status: result.status,
        reason: result.reason,
        durationMs: result.durationMs,
      })),
    ),
  );
  await writeFile(join(outDir, "summary.md"), summaryMarkdown(report));
}
