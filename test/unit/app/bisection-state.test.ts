import { describe, expect, it } from "@jest/globals";
import {
  begun,
  confidence,
  currentStep,
  judged,
  maxSteps,
  narrowed,
  nextBisectionMove,
  stepVerdict,
  type BisectionCommit,
  type BisectionState,
} from "../../../src/app/bisect/bisection-state.js";

const commits = (n: number): BisectionCommit[] => Array.from({ length: n }, (_, i) => ({ sha: `c${i + 1}`, title: `commit ${i + 1}`, author: "dev" }));

/** Runs a whole bisection of `n` commits with the first bad at `culprit` (a position), `skip` judging some commits unjudgeable. */
function bisect(n: number, culprit: number, skip: (position: number) => boolean = () => false) {
  const range = commits(n);
  let state: BisectionState = { steps: [] };
  for (;;) {
    const move = nextBisectionMove(n, state);
    if (move.kind !== "test") return { move, state };
    state = begun(state, move.position, range);
    const position = move.position;
    const run = skip(position)
      ? { broken: "its build failed", statuses: new Map<string, string>() }
      : { broken: null, statuses: new Map([["k", position >= culprit ? "failed" : "passed"]]) };
    const { verdict, note } = stepVerdict(run, ["k"]);
    state = judged(state, range[position - 1]!.sha, verdict, note)!;
  }
}

describe("a bisection's steps", () => {
  it("finds every culprit of ranges up to 40 commits within ceil(log2 n) steps when every commit can be judged", () => {
    for (let n = 2; n <= 40; n++)
      for (let culprit = 1; culprit <= n; culprit++) {
        const { move, state } = bisect(n, culprit);
        expect(move).toEqual({ kind: "found", firstBad: culprit });
        expect(state.steps.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
        expect(confidence(state, move).level).toBe("high");
      }
  });

  it("spends at most maxSteps on a range with unjudgeable commits, and says when the answer is not one commit", () => {
    for (let n = 2; n <= 40; n++)
      for (let culprit = 1; culprit <= n; culprit++) {
        const { move, state } = bisect(n, culprit, (p) => p % 3 === 0);
        expect(state.steps.length).toBeLessThanOrEqual(maxSteps(n));
        if (move.kind === "found") {
          expect(move.firstBad).toBe(culprit);
          expect(confidence(state, move).level).not.toBe("low");
        } else {
          expect(move.kind).toBe("inconclusive");
          if (move.kind === "inconclusive") expect(move.candidates).toContain(culprit);
          expect(confidence(state, move).level).toBe("low");
        }
      }
  });

  it("judges a step once: a report seen again, or of another commit, changes nothing", () => {
    const state = begun({ steps: [] }, 3, commits(5));
    expect(currentStep(state)?.sha).toBe("c3");
    const once = judged(state, "c3", "bad", "failed")!;
    expect(judged(once, "c3", "good", "passed")).toBeNull();
    expect(judged(state, "c2", "good", "passed")).toBeNull();
  });

  it("fails a step when any regressed test fails, passes it only when all pass, and skips it otherwise", () => {
    const tests = ["a", "b"];
    expect(
      stepVerdict(
        {
          broken: null,
          statuses: new Map([
            ["a", "passed"],
            ["b", "errored"],
          ]),
        },
        tests,
      ).verdict,
    ).toBe("bad");
    expect(
      stepVerdict(
        {
          broken: null,
          statuses: new Map([
            ["a", "passed"],
            ["b", "passed"],
          ]),
        },
        tests,
      ).verdict,
    ).toBe("good");
    expect(stepVerdict({ broken: null, statuses: new Map([["a", "passed"]]) }, tests)).toEqual({ verdict: "skip", note: "the tests did not run" });
    expect(stepVerdict({ broken: "its build failed", statuses: new Map() }, tests)).toEqual({ verdict: "skip", note: "its build failed" });
  });

  it("narrows the range to after the last good commit below the first bad one, whatever the order the verdicts came in", () => {
    const range = commits(10);
    const step = (state: BisectionState, position: number, verdict: "good" | "bad" | "skip") =>
      judged(begun(state, position, range), range[position - 1]!.sha, verdict, "")!;
    let state: BisectionState = { steps: [] };
    expect(narrowed(10, state)).toEqual({ first: 1, last: 10 });
    state = step(state, 5, "bad");
    expect(narrowed(10, state)).toEqual({ first: 1, last: 5 });
    state = step(state, 2, "good");
    state = step(state, 3, "skip");
    expect(narrowed(10, state)).toEqual({ first: 3, last: 5 });
    // A good verdict above the first bad one (a flaky run) narrows nothing.
    state = step(state, 7, "good");
    expect(narrowed(10, state)).toEqual({ first: 3, last: 5 });
    // A step under way has no verdict yet.
    expect(narrowed(10, begun(state, 4, range))).toEqual({ first: 3, last: 5 });
    // Once found, the range is the culprit.
    state = step(state, 4, "bad");
    expect(narrowed(10, state)).toEqual({ first: 3, last: 4 });
    state = step(state, 3, "good");
    expect(nextBisectionMove(10, state)).toEqual({ kind: "found", firstBad: 4 });
    expect(narrowed(10, state)).toEqual({ first: 4, last: 4 });
  });

  it("keeps who cancelled a bisection through the steps' moves", () => {
    const range = commits(4);
    const state: BisectionState = { steps: [], cancelledBy: "maintainer" };
    const moved = judged(begun(state, 2, range), "c2", "good", "passed")!;
    expect(moved).toEqual({ steps: [{ position: 2, sha: "c2", verdict: "good", note: "passed" }], cancelledBy: "maintainer" });
  });
});
