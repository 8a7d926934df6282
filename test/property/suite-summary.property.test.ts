import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { SUMMARY_LIMIT } from "../../src/app/github/check-run-limits.js";
import { suiteSummary, type SuiteRow } from "../../src/app/github/suite-check-run.js";
import type { JobRecord } from "../../src/orchestrator/store/store.js";

const LINKS = { serverUrl: "https://github.com", repo: "octo/linux" };

/** A job as the table reads it: name, state, where it runs, how it ended. */
const rowOf = (name: string, reason: string, i: number): SuiteRow => ({
  job: {
    name,
    state: i % 3 === 0 ? "failed" : "running",
    flaky: false,
    attempt: 1,
    runnerId: `runner-${i}`,
    runId: String(1000 + i),
    result: null,
    reason,
  } as unknown as JobRecord,
  position: null,
});

describe("a suite's check run summary", () => {
  it("stays within GitHub's 65,535 bytes for any matrix, listing every job that fits and counting the rest", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 400, unit: "grapheme" }), fc.string({ maxLength: 400 })), { maxLength: 1024 }), (jobs) => {
        const rows = jobs.map(([name, reason], i) => rowOf(`j${i} ${name}`, reason, i));
        const summary = suiteSummary(rows, LINKS);
        expect(Buffer.byteLength(summary)).toBeLessThanOrEqual(SUMMARY_LIMIT);
        const listed = rows.filter((_, i) => summary.includes(`| runner-${i} |`)).length;
        if (listed < rows.length) expect(summary).toContain(`${rows.length - listed} more job`);
      }),
      { numRuns: 30 },
    );
  });
});
