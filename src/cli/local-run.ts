import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobSpec, Plan } from "../config/job-spec.js";
import type { RunnerFactory } from "../runners/factory.js";
import { writeJunit } from "../runners/report/junit-writer.js";
import { jobReport, runReport, type JobReport, type RunReport } from "../runners/report/run-report.js";
import { summaryMarkdown } from "../runners/report/summary-markdown.js";
import { runJob } from "../runners/run-job.js";
import type { ProgressEvent, RunResult } from "../runners/types.js";

export interface LocalRunOptions {
  factory: RunnerFactory;
  workspace: string;
  outDir: string;
  concurrency: number;
  signal?: AbortSignal;
  onJobStart?: (job: JobSpec) => void;
  onJobEnd?: (job: JobSpec, result: RunResult) => void;
  onProgress?: (event: ProgressEvent) => void;
}

/** Highest priority first; among equals, the order of the config file. */
export function executionOrder(jobs: readonly JobSpec[]): JobSpec[] {
  return jobs.map((job, index) => ({ job, index })).sort((a, b) => b.job.priority - a.job.priority || a.index - b.index).map((e) => e.job);
}

/**
 * Runs a plan on this machine with up to `concurrency` jobs at once and writes the results
 * folder: results.json, junit.xml, summary.md and jobs/<job>/ with logs and artifacts.
 */
export async function runPlanLocally(plan: Plan, options: LocalRunOptions): Promise<RunReport> {
  const startedAt = new Date();
  await mkdir(options.outDir, { recursive: true });
  await rm(join(options.outDir, "jobs"), { recursive: true, force: true });
  const queue = executionOrder(plan.jobs);
  const results = new Map<JobSpec, { result: RunResult; dir: string }>();

  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const dir = join("jobs", job.slug);
      options.onJobStart?.(job);
      const result = await runJob(job, {
        factory: options.factory,
        workspace: options.workspace,
        jobDir: join(options.outDir, dir),
        signal: options.signal,
        onProgress: options.onProgress,
      });
      results.set(job, { result, dir });
      options.onJobEnd?.(job, result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, plan.jobs.length)) }, worker));

  const reports: JobReport[] = plan.jobs.map((job) => {
    const { result, dir } = results.get(job)!;
    return jobReport(job, result, dir);
  });
  const report = runReport(plan.source, reports, startedAt, new Date());
  await writeFile(join(options.outDir, "results.json"), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(
    join(options.outDir, "junit.xml"),
    writeJunit(plan.jobs.map((job) => {
      const { result } = results.get(job)!;
      return { name: job.id, results: result.results, status: result.status, reason: result.reason, durationMs: result.durationMs };
    })),
  );
  await writeFile(join(options.outDir, "summary.md"), summaryMarkdown(report));
  return report;
}
