import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { JobSpec } from "../config/job-spec.js";
import { collectArtifacts } from "./artifacts.js";
import { isInfrastructureError } from "./errors.js";
import { readResultsFile } from "./results-file.js";
import { outputText } from "./captured-output.js";
import { parseResults } from "./results/detect.js";
import type { ParsedResults } from "./results/types.js";
import type { Execution, TerminalState, Outcome, RunResult } from "./types.js";

const STATUS_OF: Record<Outcome, TerminalState> = {
  passed: "succeeded",
  failed: "failed",
  kernel_panic: "failed",
  oops: "failed",
  hang: "failed",
  boot_failure: "failed",
  timed_out: "timed_out",
  cancelled: "cancelled",
  skipped: "succeeded",
  config_error: "errored",
  infrastructure: "errored",
};

/**
 * The job's outcome from what the runner saw and what the results say. A zero exit with
 * failing tests is a failure; a non-zero exit with all tests passing is a failure too
 * (the command said so). Without an exit status (a user's own initramfs), results decide.
 * A run whose every test was skipped showed nothing passing: it is skipped, not passed.
 */
export function decideOutcome(
  execution: Pick<Execution, "exitCode" | "timedOut" | "cancelled" | "outcome" | "reason">,
  results: ParsedResults | null,
): { status: TerminalState; outcome: Outcome; reason: string } {
  const named = (outcome: Outcome, reason: string) => ({ status: STATUS_OF[outcome], outcome, reason });
  if (execution.cancelled) return named("cancelled", "cancelled");
  if (execution.outcome) return named(execution.outcome, execution.reason ?? execution.outcome);
  if (execution.timedOut) return named("timed_out", "the job ran past its timeout and was killed");
  if (results?.status === "failed") return named("failed", `${results.counts.failed + results.counts.errored} of ${results.counts.total} tests did not pass`);
  if (execution.exitCode !== null && execution.exitCode !== 0) return named("failed", `the command exited with ${execution.exitCode}`);
  if (results?.status === "errored") return named("failed", results.errors[0] ?? "the results were cut short");
  if (results?.status === "skipped") return named("skipped", `all ${results.counts.total} tests were skipped`);
  if (execution.exitCode === null && (!results || results.status === "no_tests"))
    return named("failed", "no exit status and no test results: the guest did not report");
  return named("passed", results ? `${results.counts.passed} of ${results.counts.total} tests passed` : "the command exited with 0");
}

export interface FinishOptions {
  jobDir: string;
  workspace: string;
}

/** Writes the job's logs, parses its results, collects artifacts and decides its status. */
export async function finishJob(job: JobSpec, execution: Execution, options: FinishOptions): Promise<RunResult> {
  const logs: RunResult["logs"] = { stdout: "stdout.log", stderr: "stderr.log" };
  await writeFile(join(options.jobDir, logs.stdout), execution.stdout.data);
  await writeFile(join(options.jobDir, logs.stderr), execution.stderr.data);
  if (execution.console) {
    logs.console = "console.log";
    await writeFile(join(options.jobDir, logs.console), execution.console.data);
  }

  const results = await readResults(job, execution);
  const decided = decideOutcome(execution, results);
  const { entries } = await collectArtifacts(job.artifacts, { jobDir: options.jobDir, workspace: options.workspace });
  const result: RunResult = {
    jobId: job.id,
    ...decided,
    exitCode: execution.exitCode,
    startedAt: execution.startedAt.toISOString(),
    finishedAt: execution.finishedAt.toISOString(),
    durationMs: execution.finishedAt.getTime() - execution.startedAt.getTime(),
    results,
    metrics: execution.metrics,
    ...(execution.boot ? { boot: execution.boot } : {}),
    artifacts: entries,
    logs,
    stdoutTruncated: execution.stdout.truncated,
    stderrTruncated: execution.stderr.truncated,
  };
  await writeFile(join(options.jobDir, "result.json"), JSON.stringify(result, null, 2));
  return result;
}

async function readResults(job: JobSpec, execution: Execution): Promise<ParsedResults | null> {
  if (job.results === "none") return null;
  let text: string;
  if (job.resultsFile) {
    const read = await readResultsFile(execution.resultsDir, job.resultsFile);
    if (!read.ok)
      return {
        format: job.results === "auto" ? "junit" : job.results,
        status: "errored",
        counts: { passed: 0, failed: 0, skipped: 0, errored: 0, total: 0 },
        tests: [],
        errors: [read.problem],
      };
    text = read.text;
  } else {
    text = outputText(execution.console ?? execution.stdout);
  }
  const parsed = parseResults(text, job.results);
  if (job.results === "auto" && parsed.status === "no_tests") return null;
  return parsed;
}

/**
 * The RunResult of a job that could not run to its end. The outcome says whose fault it
 * was: `config_error` is not retried (no runner can fix it), `infrastructure` is.
 */
export async function erroredResult(job: JobSpec, error: unknown, startedAt: Date, jobDir: string): Promise<RunResult> {
  const message = error instanceof Error ? error.message : String(error);
  const outcome: Outcome = isInfrastructureError(error) ? "infrastructure" : "config_error";
  return unrunResult(job, { status: "errored", outcome, reason: message }, startedAt, jobDir);
}

/** The RunResult of a job not run because the build it boots did not succeed: nothing of its own failed. */
export function skippedResult(job: JobSpec, reason: string, jobDir: string): Promise<RunResult> {
  return unrunResult(job, { status: "succeeded", outcome: "skipped", reason }, new Date(), jobDir);
}

async function unrunResult(job: JobSpec, ending: Pick<RunResult, "status" | "outcome" | "reason">, startedAt: Date, jobDir: string): Promise<RunResult> {
  const finishedAt = new Date();
  const message = ending.reason;
  await mkdir(jobDir, { recursive: true });
  await writeFile(join(jobDir, "stderr.log"), `kto: ${message}\n`);
  await writeFile(join(jobDir, "stdout.log"), "");
  const result: RunResult = {
    jobId: job.id,
    ...ending,
    exitCode: null,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    results: null,
    metrics: { wallMs: finishedAt.getTime() - startedAt.getTime(), cpuMs: null, memoryPeakBytes: null },
    artifacts: [],
    logs: { stdout: "stdout.log", stderr: "stderr.log" },
    stdoutTruncated: false,
    stderrTruncated: false,
  };
  await writeFile(join(jobDir, "result.json"), JSON.stringify(result, null, 2));
  return result;
}
