import { describe, expect, it } from "@jest/globals";
import { judgeStep, nextMove, type StepVerdict } from "../../src/runners/history/bisect-search.js";

const known = (entries: [number, StepVerdict][]) => new Map<number, StepVerdict>(entries);

describe("the next bisection step", () => {
  it("tests the middle of the window between the last good and the first bad commit", () => {
    expect(
      nextMove(
        8,
        known([
          [0, "good"],
          [8, "bad"],
        ]),
      ),
    ).toEqual({ kind: "test", index: 4 });
    expect(
      nextMove(
        8,
        known([
          [0, "good"],
          [4, "good"],
          [8, "bad"],
        ]),
      ),
    ).toEqual({ kind: "test", index: 6 });
    expect(
      nextMove(
        8,
        known([
          [0, "good"],
          [4, "bad"],
          [8, "bad"],
        ]),
      ),
    ).toEqual({ kind: "test", index: 2 });
  });

  it("steps around a commit that does not build, and names the culprit once its parent is good", () => {
    expect(
      nextMove(
        8,
        known([
          [0, "good"],
          [4, "skip"],
          [8, "bad"],
        ]),
      ),
    ).toEqual({ kind: "test", index: 3 });
    expect(
      nextMove(
        4,
        known([
          [0, "good"],
          [1, "good"],
          [2, "bad"],
          [4, "bad"],
        ]),
      ),
    ).toEqual({ kind: "found", firstBad: 2 });
    expect(
      nextMove(
        1,
        known([
          [0, "good"],
          [1, "bad"],
        ]),
      ),
    ).toEqual({ kind: "found", firstBad: 1 });
  });

  it("is inconclusive when only skipped commits lie before the first bad one, naming them and it", () => {
    expect(
      nextMove(
        5,
        known([
          [0, "good"],
          [1, "good"],
          [2, "skip"],
          [3, "skip"],
          [4, "bad"],
          [5, "bad"],
        ]),
      ),
    ).toEqual({
      kind: "inconclusive",
      candidates: [2, 3, 4],
    });
  });
});

describe("a step's verdict from its runs", () => {
  it("is good with every run passing, bad with every run failing, and runs again when they disagree", () => {
    expect(judgeStep(["pass"], 1)).toBe("good");
    expect(judgeStep(["fail"], 1)).toBe("bad");
    expect(judgeStep(["pass"], 2)).toBe("more");
    expect(judgeStep(["pass", "fail"], 2)).toBe("more");
    expect(judgeStep(["pass", "fail", "fail", "fail", "pass"], 2)).toBe("bad");
    expect(judgeStep(["pass", "fail", "pass", "fail", "pass"], 2)).toBe("skip");
  });

  it("skips a commit whose build broke, or whose runs said nothing of the test, whatever else ran", () => {
    expect(judgeStep(["broken"], 1)).toBe("skip");
    expect(judgeStep(["fail", "unjudged"], 3)).toBe("skip");
  });
});
