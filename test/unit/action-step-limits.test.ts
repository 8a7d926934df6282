import { describe, expect, it } from "@jest/globals";
import { annotateBuilds, annotateFailures } from "../../src/action/annotations.js";
import { JOB_SUMMARY_BYTES, jobSummary } from "../../src/action/job-summary.js";
import { StepAnnotations, type AnnotationSink } from "../../src/action/step-annotations.js";
import type { JobReport } from "../../src/runners/report/run-report.js";
import { jobReport } from "../helpers/job-report.js";

/**
 * What GitHub Actions shows of a step: at most 10 error and 10 warning annotations (the
 * step's failure is one of the errors) and a job summary of at most 1 MiB.
 */

type Made = { kind: "error" | "warning" | "notice" | "failed"; message: string };

/** A sink that keeps what GitHub would show: the first 10 of each kind of annotation, the failure an error like the rest. */
function shownByGitHub(): AnnotationSink & { made: Made[]; shown: () => Made[] } {
  const made: Made[] = [];
  return {
    made,
    error: (message) => made.push({ kind: "error", message }),
    warning: (message) => made.push({ kind: "warning", message }),
    notice: (message) => made.push({ kind: "notice", message }),
    setFailed: (message) => made.push({ kind: "failed", message }),
    shown: () => {
      const seen = { error: 0, warning: 0, notice: 0 };
      return made.filter((m) => (seen[m.kind === "failed" ? "error" : m.kind] += 1) <= 10);
    },
  };
}

function failing(name: string, count: number): JobReport {
  const failures = Array.from({ length: count }, (_, i) => ({
    name: `case ${i}`,
    path: [],
    status: "failed" as const,
    reason: `case ${i} failed`,
    location: { file: "lib/math.c", line: i + 1 },
  }));
  return jobReport(name, "failed", { failures, tests: { total: count, passed: 0, failed: count, errored: 0, skipped: 0 } });
}

function building(name: string, errors: number, warnings: number): JobReport {
  const diagnostic = (severity: "error" | "warning", line: number) => ({
    severity,
    tool: "compiler" as const,
    place: { path: "lib/math.c", line, column: 1, inTree: true },
    message: `${severity} ${line}`,
    flag: null,
    function: null,
    includedFrom: [],
    notes: [],
  });
  return jobReport(name, "failed", {
    runner: "build",
    failures: [],
    build: {
      counts: { errors, warnings },
      diagnostics: [
        ...Array.from({ length: errors }, (_, i) => diagnostic("error", i + 1)),
        ...Array.from({ length: warnings }, (_, i) => diagnostic("warning", i + 1)),
      ],
      diagnosticsOmitted: 0,
      ccacheHitRate: null,
      droppedOptions: ["CONFIG_A", "CONFIG_B"],
      files: [],
      dir: "build",
    },
  } as Partial<JobReport>);
}

describe("the action's step annotations", () => {
  it("are at most 9 errors and the step's failure, which GitHub then shows, and a notice says how many were left out and where they are", () => {
    const sink = shownByGitHub();
    const annotations = new StepAnnotations(sink);
    const jobs = [failing("unit", 30), jobReport("boot", "failed", { status: "errored" as "failed", failures: [], reason: "the VM did not boot" })];
    annotateFailures(jobs, annotations);
    annotations.noteLeftOut("the job's check run, the job summary and the results artifact");
    annotations.fail("kto: failed: unit failed, boot errored");
    expect(sink.made.filter((m) => m.kind === "error")).toHaveLength(9);
    // The job that stopped without failing tests comes first: nothing else says why it failed.
    expect(sink.made[0]).toEqual({ kind: "error", message: "the VM did not boot" });
    expect(sink.shown()).toContainEqual({ kind: "failed", message: "kto: failed: unit failed, boot errored" });
    expect(sink.shown()).toContainEqual({
      kind: "notice",
      message:
        "kto: 22 errors left out of this step's annotations (GitHub shows 10 of each a step); they are all in the job's check run, the job summary and the results artifact",
    });
    expect(sink.shown()).toEqual(sink.made);
  });

  it("are at most 10 warnings, a build's leaving room for the step's own later ones, and a build's errors share the 9 errors with failing tests", () => {
    const sink = shownByGitHub();
    const annotations = new StepAnnotations(sink);
    annotateBuilds([building("build", 12, 40)], annotations);
    annotateFailures([failing("unit", 5)], annotations);
    annotations.warning("could not create the check run: HTTP 502");
    annotations.warning("kto App unreachable for the finished report");
    annotations.noteLeftOut("the job summary and the results artifact");
    annotations.fail("kto: failed");
    expect(sink.made.filter((m) => m.kind === "warning").map((m) => m.message)).toEqual([
      ...Array.from({ length: 8 }, (_, i) => `warning ${i + 1}`),
      "could not create the check run: HTTP 502",
      "kto App unreachable for the finished report",
    ]);
    expect(sink.made.filter((m) => m.kind === "error").map((m) => m.message)).toEqual(Array.from({ length: 9 }, (_, i) => `error ${i + 1}`));
    // 3 build errors and 5 failing tests; 32 warnings and the 2 dropped options.
    expect(sink.made.find((m) => m.kind === "notice")!.message).toMatch(/^kto: 8 errors and 34 warnings left out/);
    expect(sink.shown()).toEqual(sink.made);
  });

  it("say nothing of what was left out when nothing was", () => {
    const sink = shownByGitHub();
    const annotations = new StepAnnotations(sink);
    annotateFailures([failing("unit", 3)], annotations);
    annotations.noteLeftOut("the job summary");
    expect(sink.made.map((m) => m.kind)).toEqual(["error", "error", "error"]);
  });
});

describe("the action's job summary", () => {
  it("is at most 1 MiB of UTF-8, which GitHub shows, cut with a note, and keeps the link to the results", () => {
    const url = "https://github.com/o/r/actions/runs/1/artifacts/2";
    const long = "| ✅ passed › ❌ failed |\n".repeat(60_000);
    expect(long.length).toBeLessThan(JOB_SUMMARY_BYTES * 2);
    const summary = jobSummary(long, url);
    expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(JOB_SUMMARY_BYTES);
    expect(summary).toMatch(/… \d+ more bytes cut \(GitHub's limit\); the full summary is summary\.md in the results artifact\./);
    expect(summary.endsWith(`\n[Download the results](${url})\n`)).toBe(true);
    expect(jobSummary("short", null)).toBe("short");
  });
});
