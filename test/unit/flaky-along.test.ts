import { describe, expect, it } from "@jest/globals";
import { flakyAlong } from "../../src/runners/history/comparison.js";
import { resultsSet } from "../../src/runners/history/results-set.js";
import { identityKey } from "../../src/runners/history/test-identity.js";

const run = (commit: string, status: "passed" | "failed") => ({
  commit,
  set: resultsSet(commit, [
    { name: "unit", suite: "unit", matrix: {}, status: "failed", outcome: "failed", reason: "", cases: [{ path: ["math"], name: "add", status }] },
  ]),
});
const ADD = identityKey({ job: "unit", path: ["math"], name: "add", occurrence: 1 });

describe("a test the base branch's runs call flaky", () => {
  it("is not one that broke once or was fixed once: one change along the commits is a break or a fix", () => {
    // Nearest first: fixed at c3, failing before.
    expect(flakyAlong([run("c1", "passed"), run("c2", "passed"), run("c3", "passed"), run("c4", "failed"), run("c5", "failed")]).has(ADD)).toBe(false);
    expect(flakyAlong([run("c1", "failed"), run("c2", "passed")]).has(ADD)).toBe(false);
  });

  it("is one that went back and forth, or disagreed with itself at one commit", () => {
    expect(flakyAlong([run("c1", "passed"), run("c2", "failed"), run("c3", "passed")]).has(ADD)).toBe(true);
    expect(flakyAlong([run("c1", "passed"), run("c1", "failed")]).has(ADD)).toBe(true);
  });
});
