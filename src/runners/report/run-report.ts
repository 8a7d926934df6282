import type { JobSpec } from "../../config/job-spec.js";
import { leaves, type TestCounts } from "../results/types.js";
import { buildReport, type BuildReport } from "./build-report.js";
import { topFrameInTree, type StackFrame } from "../build/decode-stack.js";
import type { TerminalState, RunResult } from "../types.js";

export const RESULTS_SCHEMA = "kto.results/v1";

export interface JobReport {
  name: string;
  suite: string;
  matrix: Record<string, string>;
  runner: JobSpec["runner"];
  status: TerminalState;
  outcome: RunResult["outcome"];
  reason: string;
  exitCode: number | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Leaf test cases, counted as kunit_tool counts them; zeros when the job printed no results. */
  tests: TestCounts;
  resultsFormat: string | null;
  failures: { name: string; path: string[]; status: string; reason?: string; location?: { file: string; line: number } }[];
  /** The longest-running test cases, where the results carry durations (TAP YAML, JUnit). */
  slowest: { name: string; path: string[]; durationMs: number }[];
  metrics: RunResult["metrics"];
  boot?: RunResult["boot"];
  /** Paths relative to the results folder. */
  dir: string;
  logs: RunResult["logs"];
  artifacts: RunResult["artifacts"];
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** A build job's build. */
  build?: BuildReport;
  /** Where the oops or panic that ended the job happened: the top frame of its decoded stack trace inside the tree, and the trace. */
  crash?: { location: { file: string; line: number } | null; frames: string[] };
}

export interface RunReport {
  schema: typeof RESULTS_SCHEMA;
  /** The run's id in kto's store (`kto run --resume ID`). */
  run?: string;
  config: string;
  status: TerminalState;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  jobs: JobReport[];
  totals: { jobs: Record<TerminalState, number>; tests: TestCounts };
}

const SLOWEST = 5;

const ZERO: TestCounts = { passed: 0, failed: 0, skipped: 0, errored: 0, total: 0 };

export function jobReport(job: JobSpec, result: RunResult, dir: string): JobReport {
  const all = result.results ? leaves(result.results.tests) : [];
  const failing = all.filter((t) => t.status === "failed" || t.status === "errored");
  const slowest = all
    .filter((t): t is typeof t & { durationMs: number } => t.durationMs !== undefined)
    .sort((a, b) => b.durationMs - a.durationMs)
    .slice(0, SLOWEST)
    .map((t) => ({ name: t.name, path: t.path, durationMs: t.durationMs }));
  return {
    name: job.id,
    suite: job.suite,
    matrix: job.matrix,
    runner: job.runner,
    status: result.status,
    outcome: result.outcome,
    reason: result.reason,
    exitCode: result.exitCode,
    startedAt: result.startedAt,
    finishedAt: result.finishedAt,
    durationMs: result.durationMs,
    tests: result.results?.counts ?? { ...ZERO },
    resultsFormat: result.results?.format ?? null,
    failures: failing.map((t) => ({
      name: t.name,
      path: t.path,
      status: t.status,
      ...(t.reason ? { reason: t.reason } : {}),
      ...(t.location ? { location: t.location } : {}),
    })),
    slowest,
    metrics: result.metrics,
    ...(result.boot ? { boot: result.boot } : {}),
    dir,
    logs: result.logs,
    artifacts: result.artifacts,
    stdoutTruncated: result.stdoutTruncated,
    stderrTruncated: result.stderrTruncated,
    ...(result.build ? { build: buildReport(result.build) } : {}),
    ...(result.stackTrace ? { crash: crashReport(result.stackTrace) } : {}),
  };
}

/** The run's status is its worst job's: errored, then timed_out, failed, cancelled, skipped, succeeded. */
export function overallStatus(statuses: readonly TerminalState[]): TerminalState {
  for (const status of ["errored", "timed_out", "failed", "cancelled", "skipped"] as const) {
    if (statuses.includes(status)) return status;
  }
  return "succeeded";
}

export function runReport(config: string, jobs: JobReport[], startedAt: Date, finishedAt: Date, run?: string): RunReport {
  const totals = {
    jobs: { succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, errored: 0, skipped: 0 } as Record<TerminalState, number>,
    tests: { ...ZERO },
  };
  for (const job of jobs) {
    totals.jobs[job.status] += 1;
    for (const key of Object.keys(ZERO) as (keyof TestCounts)[]) totals.tests[key] += job.tests[key];
  }
  return {
    schema: RESULTS_SCHEMA,
    ...(run ? { run } : {}),
    config,
    status: overallStatus(jobs.map((j) => j.status)),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    jobs,
    totals,
  };
}

function crashReport(frames: readonly StackFrame[]): NonNullable<JobReport["crash"]> {
  const top = topFrameInTree(frames);
  return {
    location: top ? { file: top.place!.path, line: top.place!.line! } : null,
    frames: frames.map((f) => `${f.unreliable ? "? " : ""}${f.symbol}+0x${f.offset.toString(16)}${f.place ? ` (${f.place.path}:${f.place.line ?? "?"})` : ""}`),
  };
}
