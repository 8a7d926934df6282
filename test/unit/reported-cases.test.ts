import { describe, expect, it } from "@jest/globals";
import { reportedCasesSchema } from "../../src/app/history/record-results.js";
import { casesWithin, type CaseResult } from "../../src/runners/report/test-cases.js";

const cases = (n: number, name = (i: number) => `case ${i}`): CaseResult[] =>
  Array.from({ length: n }, (_, i) => ({ path: ["suite"], name: name(i), status: "passed" }));

describe("a job's cases as its runner reports them to the App", () => {
  it("keeps the first cases whose JSON fits the bytes given, counted in bytes not characters, and counts the rest", () => {
    // Each name four bytes per character in UTF-8: a count of characters would let twice as much through.
    const wide = cases(1_000, (i) => `${"😀".repeat(50)}${i}`);
    const kept = casesWithin(wide, 7, 20_000);
    expect(Buffer.byteLength(JSON.stringify(kept.cases))).toBeLessThanOrEqual(20_000);
    expect(kept.cases.length).toBeGreaterThan(0);
    expect(kept.cases).toEqual(wide.slice(0, kept.cases.length));
    expect(kept.casesOmitted).toBe(7 + 1_000 - kept.cases.length);
    expect(casesWithin(wide, 0, 0)).toEqual({ cases: [], casesOmitted: 1_000 });
    expect(casesWithin(cases(3), 0)).toEqual({ cases: cases(3), casesOmitted: 0 });
  });

  it("bounds what the App takes: names cut to a bounded length with a digest, paths cut at 64 levels, bad durations dropped, at most 100,000 cases", () => {
    const long = reportedCasesSchema.parse([{ path: ["x".repeat(10_000)], name: "y".repeat(10_000), status: "failed" }])[0]!;
    expect(long.name.length).toBeLessThanOrEqual(256);
    expect(long.path[0]!.length).toBeLessThanOrEqual(256);
    expect(long.name).not.toBe(reportedCasesSchema.parse([{ path: [], name: `${"y".repeat(9_999)}z`, status: "failed" }])[0]!.name);
    // Deeper than 64 levels is cut, never refused: the report carries the job's end.
    expect(reportedCasesSchema.parse([{ path: Array.from({ length: 65 }, () => "level"), name: "deep", status: "passed" }])[0]!.path).toHaveLength(64);
    expect(reportedCasesSchema.parse([{ path: [], name: "t", status: "passed", durationMs: -1 }])[0]!.durationMs).toBeUndefined();
    expect(reportedCasesSchema.safeParse(cases(100_001)).success).toBe(false);
    expect(reportedCasesSchema.safeParse([{ path: [], name: "a", status: "exploded" }]).success).toBe(false);
  });
});
