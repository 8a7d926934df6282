import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { judgeStep, maxRuns, nextMove, type RunVerdict, type StepVerdict } from "../../src/runners/history/bisect-search.js";

/** A history of n+1 commits: 0 good, n bad, the first bad at `firstBad`, and some commits in between that do not build. */
const history = fc.integer({ min: 1, max: 300 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    firstBad: fc.integer({ min: 1, max: n }),
    broken: fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, n - 1) }), { maxLength: Math.min(20, n) }).map((xs) => new Set(xs.filter((x) => x < n))),
  }),
);

/** Runs the search to its end against a history, counting the commits it tests. */
function bisect(n: number, verdictOf: (index: number) => StepVerdict) {
  const verdicts = new Map<number, StepVerdict>([
    [0, "good"],
    [n, "bad"],
  ]);
  const tested: number[] = [];
  for (;;) {
    const move = nextMove(n, verdicts);
    if (move.kind !== "test") return { move, tested };
    expect(verdicts.has(move.index)).toBe(false);
    expect(move.index).toBeGreaterThan(0);
    expect(move.index).toBeLessThan(n);
    tested.push(move.index);
    verdicts.set(move.index, verdictOf(move.index));
  }
}

describe("bisection over a linear history", () => {
  it("Property: bisect finds the first bad commit within ceil(log2 n) steps when every commit builds", () => {
    fc.assert(
      fc.property(history, ({ n, firstBad }) => {
        const { move, tested } = bisect(n, (i) => (i >= firstBad ? "bad" : "good"));
        expect(move).toEqual({ kind: "found", firstBad });
        expect(tested.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
      }),
    );
  });

  it("Property: bisect finds the first bad commit despite skipped commits, or names candidates that hold it", () => {
    fc.assert(
      fc.property(history, ({ n, firstBad, broken }) => {
        const { move, tested } = bisect(n, (i) => (broken.has(i) ? "skip" : i >= firstBad ? "bad" : "good"));
        // Each skipped commit costs at most one step beyond a search without them.
        expect(tested.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)) + broken.size);
        if (move.kind === "found") {
          expect(move.firstBad).toBe(firstBad);
        } else {
          expect(move.kind).toBe("inconclusive");
          if (move.kind !== "inconclusive") return;
          // Inconclusive only when what separates the culprit from the last good commit did not build.
          expect(move.candidates).toContain(firstBad);
          expect(move.candidates.slice(0, -1).every((i) => broken.has(i))).toBe(true);
          expect(move.candidates.length).toBeGreaterThan(1);
          const before = Math.min(...move.candidates) - 1;
          expect(before === 0 || !broken.has(before)).toBe(true);
        }
        // Found exactly when the culprit and the commit before it both build.
        expect(move.kind === "found").toBe(!broken.has(firstBad) && !broken.has(firstBad - 1));
      }),
    );
  });

  it("Property: a step is good only when no run failed, and bad only with a majority of failures", () => {
    const run = fc.constantFrom<RunVerdict>("pass", "fail");
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(run, { minLength: 1, maxLength: 9 }), (runs, verdicts) => {
        // The runs a step takes: at least `runs`, more while they disagree, never more than the bound.
        const taken: RunVerdict[] = [];
        let verdict: StepVerdict | "more" = "more";
        for (const v of verdicts) {
          taken.push(v);
          verdict = judgeStep(taken, runs);
          if (verdict !== "more") break;
        }
        expect(taken.length).toBeLessThanOrEqual(maxRuns(runs));
        const failed = taken.filter((v) => v === "fail").length;
        if (verdict === "good") expect(failed).toBe(0);
        if (verdict === "bad") expect(failed * 2).toBeGreaterThan(taken.length);
        if (verdict === "more") expect(taken.length).toBe(verdicts.length);
        else expect(taken.length).toBeGreaterThanOrEqual(runs);
      }),
    );
  });
});
