import type { JobReport } from "../../src/runners/report/run-report.js";

/** A finished job's report as the action sends it, for tests that stand in for the action. */
export function jobReport(name: string, status: "succeeded" | "failed", overrides: Partial<JobReport> = {}): JobReport {
  const failed = status === "failed" ? 1 : 0;
  const now = new Date();
  return {
    name,
    suite: name.split("/").pop() ?? name,
    matrix: {},
    runner: "docker",
    status,
    outcome: status === "succeeded" ? "passed" : "failed",
    reason: status === "succeeded" ? "all tests passed" : `${failed} of 3 tests did not pass`,
    exitCode: failed,
    startedAt: new Date(now.getTime() - 50).toISOString(),
    finishedAt: now.toISOString(),
    durationMs: 50,
    tests: { total: 3, passed: 3 - failed, failed, errored: 0, skipped: 0 },
    resultsFormat: "tap",
    failures: failed ? [{ name: "case_2", path: [], status: "failed", reason: "expected 4, got 3", location: { file: "tests/case.sh", line: 9 } }] : [],
    slowest: [],
    metrics: { wallMs: 50, cpuMs: 10, memoryPeakBytes: 1 << 20 },
    dir: `jobs/${name}`,
    logs: { stdout: `jobs/${name}/stdout.log`, stderr: `jobs/${name}/stderr.log` },
    artifacts: [],
    stdoutTruncated: false,
    stderrTruncated: false,
    ...overrides,
  };
}
