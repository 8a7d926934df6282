import { describe, expect, it } from "@jest/globals";
import { STORED_FAILURES, STORED_REPORT_BYTES, storedReport, type ReceivedReport } from "../../src/app/http/stored-report.js";
import type { BuildOutputFile } from "../../src/config/job-spec.js";
import { jobReport } from "../helpers/job-report.js";

const failure = (i: number, reason: string) => ({ name: `case ${i}`, path: ["suite"], status: "failed", reason, location: { file: "a.c", line: i + 1 } });
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
const compileError = (i: number, message: string) => ({
  severity: "error" as const,
  tool: "compiler" as const,
  place: { path: `drivers/x${i}.c`, line: i + 1, column: 1, inTree: true },
  message,
  flag: null,
  function: null,
  includedFrom: [],
  notes: [message],
});
const build = (files: BuildOutputFile[], diagnostics: ReturnType<typeof compileError>[] = []) => ({
  counts: { errors: diagnostics.length, warnings: 0 },
  diagnostics,
  diagnosticsOmitted: 0,
  ccacheHitRate: null,
  droppedOptions: [],
  files,
  dir: "build",
});

describe("what the App stores of a finished report, whatever a runner sends (up to the route's 5 MB)", () => {
  const hostile: [string, ReceivedReport][] = [
    ["a reason of 4.8 MB of control characters (6 bytes each as JSON)", jobReport("unit", "failed", { reason: "\u0001".repeat(800_000) })],
    [
      "200 failures with 20 KB reasons of emoji",
      jobReport("unit", "failed", { failures: Array.from({ length: 200 }, (_, i) => failure(i, "🙂".repeat(5_000))) }),
    ],
    [
      "a matrix of 1,000 names of 1 KB",
      jobReport("unit", "failed", { matrix: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${i}`.padEnd(1024, "k"), "v".repeat(1024)])) }),
    ],
    [
      "10,000 slowest tests with paths of 100 parts",
      jobReport("unit", "failed", {
        slowest: Array.from({ length: 10_000 }, (_, i) => ({ name: `t${i}`, path: Array<string>(100).fill("p"), durationMs: i })),
      }),
    ],
    [
      "10,000 artifacts",
      jobReport("unit", "failed", {
        artifacts: Array.from({ length: 10_000 }, (_, i) => ({ path: `out/${i}.bin`, source: "job" as const, size: i, sha256: "0".repeat(64) })),
      }),
    ],
    [
      "a build's seven outputs with names of 600 KB",
      {
        ...jobReport("kernel", "failed", { runner: "build" }),
        build: build(Array.from({ length: 7 }, (_, i) => ({ path: `${i}`.repeat(600_000), role: "kernel" as const, size: i, sha256: "0".repeat(64) }))),
      },
    ],
    [
      "all of them at once",
      jobReport("unit", "failed", {
        reason: "\u0001".repeat(100_000),
        failures: Array.from({ length: 2000 }, (_, i) => failure(i, "\u0002".repeat(200))),
        matrix: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`${i}`.padEnd(1024, "k"), "\u0003".repeat(256)])),
        slowest: Array.from({ length: 500 }, (_, i) => ({ name: "\u0004".repeat(100), path: Array<string>(50).fill("\u0005"), durationMs: i })),
      }),
    ],
  ];

  it.each(hostile)("%s: at most 64 KB, with its counts, and its first failures and how many were left out", (_, report) => {
    expect(bytes(report)).toBeLessThanOrEqual(5 * 1024 * 1024);
    const stored = storedReport(report);
    expect(bytes(stored)).toBeLessThanOrEqual(STORED_REPORT_BYTES);
    expect(stored.tests).toEqual(report.tests);
    expect(stored.failures.length).toBeLessThanOrEqual(STORED_FAILURES);
    expect(stored.failures.map((f) => f.name)).toEqual(report.failures.slice(0, stored.failures.length).map((f) => f.name));
    expect(stored.failures.length + (stored.failuresOmitted ?? 0)).toBe(report.failures.length);
  });

  it("keeps a build's outputs whole, their digests uncut, while the rest of the report is cut to fit", () => {
    const files = [
      { path: "bzImage", role: "kernel" as const, size: 1, sha256: "a".repeat(64) },
      { path: "vmlinux", role: "vmlinux" as const, size: 2, sha256: "b".repeat(64) },
    ];
    const report = {
      ...jobReport("kernel", "failed", {
        runner: "build",
        reason: "\u0001".repeat(800_000),
        failures: Array.from({ length: 2000 }, (_, i) => failure(i, "\u0002".repeat(200))),
        matrix: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`${i}`.padEnd(1024, "k"), "\u0003".repeat(256)])),
        slowest: Array.from({ length: 500 }, (_, i) => ({ name: "\u0004".repeat(100), path: Array<string>(50).fill("\u0005"), durationMs: i })),
      }),
      build: build(
        files,
        Array.from({ length: 50 }, (_, i) => compileError(i, "\u0006".repeat(20_000))),
      ),
    };
    const stored = storedReport(report);
    expect(bytes(stored)).toBeLessThanOrEqual(STORED_REPORT_BYTES);
    expect(stored.reason.length).toBeLessThan(report.reason.length);
    expect(stored.build?.files).toEqual(files);
    expect(stored.build?.counts).toEqual({ errors: 50, warnings: 0 });
  });

  it("keeps a report that fits as it is, and a long failure's reason whole while the report fits", () => {
    const report: ReceivedReport = {
      ...jobReport("unit", "failed", { failures: [failure(0, "x".repeat(10_000))] }),
      artifactUrl: "https://github.com/o/r/actions/runs/1/artifacts/2",
    };
    expect(storedReport(report)).toEqual(report);
  });

  it("keeps the first 50 of 20,000 failures whole and counts the rest", () => {
    const report = jobReport("unit", "failed", { failures: Array.from({ length: 20_000 }, (_, i) => failure(i, `expected ${i}`)) });
    const stored = storedReport(report);
    expect(stored.failures).toEqual(report.failures.slice(0, STORED_FAILURES));
    expect(stored.failuresOmitted).toBe(20_000 - STORED_FAILURES);
  });
});
