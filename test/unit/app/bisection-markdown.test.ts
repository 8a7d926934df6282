import { describe, expect, it } from "@jest/globals";
import { BISECT_ACTION, STOP_BISECT_ACTION } from "../../../src/app/bisect/bisect-offer.js";
import { bisectExternalId, bisectionOfExternalId, cancelledOutput, runningOutput, type BisectionView } from "../../../src/app/bisect/bisection-markdown.js";
import { begun, judged, type BisectionCommit, type BisectionState } from "../../../src/app/bisect/bisection-state.js";

const sha = (i: number) => `${i.toString(16).padStart(2, "0")}${"5".repeat(38)}`;
const COMMITS: BisectionCommit[] = Array.from({ length: 10 }, (_, i) => ({ sha: sha(i + 1), title: `commit ${i + 1}`, author: `dev${i + 1}` }));
const SERVER = "https://github.example.com";
const link = (i: number) => `[${sha(i).slice(0, 7)}](${SERVER}/o/r/commit/${sha(i)})`;

function view(state: BisectionState): BisectionView {
  return {
    repo: "o/r",
    serverUrl: SERVER,
    suite: "unit",
    jobKey: "unit[arch=arm64]",
    goodSha: sha(0),
    badSha: sha(10),
    shown: ["unit › add"],
    commits: COMMITS,
    state,
    startedBy: "maintainer",
  };
}

const step = (state: BisectionState, position: number, verdict: "good" | "bad" | "skip", note: string) =>
  judged(begun(state, position, COMMITS), sha(position), verdict, note)!;

describe("the kto / bisect check run's words", () => {
  it("lists each skipped commit with why it could not be judged, and none when every step was judged", () => {
    const judgedOnly = step({ steps: [] }, 5, "good", "passed");
    expect(runningOutput(view(begun(judgedOnly, 8, COMMITS))).summary).not.toContain("Skipped");
    const skipped = step(step(judgedOnly, 8, "skip", "its .github/kto.yml plans no job of suite unit"), 7, "skip", "its build failed");
    const summary = runningOutput(view(begun(skipped, 6, COMMITS))).summary;
    expect(summary.slice(summary.indexOf("Skipped"))).toBe(
      ["Skipped, as `git bisect skip` does:", "", `- ${link(8)}: its .github/kto.yml plans no job of suite unit`, `- ${link(7)}: its build failed`].join("\n"),
    );
  });

  it("says who cancelled a bisection and the range its steps had narrowed", () => {
    const none = cancelledOutput(view(begun({ steps: [] }, 5, COMMITS)), "maintainer");
    expect(none.title).toBe("Cancelled by @maintainer: one of 10 commits left");
    expect(none.summary).toMatch(new RegExp(`^\\*\\*Cancelled\\*\\* by @maintainer\\. No step had ended: the first bad commit is one of 10 commits, from \\[`));
    expect(none.summary).toContain(`from ${link(1)} up to ${link(10)}.`);

    const two = step(step({ steps: [] }, 5, "good", "passed"), 8, "bad", "1 of 1 failed");
    const narrowed = cancelledOutput(view(begun(two, 6, COMMITS)), "maintainer");
    expect(narrowed.title).toBe("Cancelled by @maintainer: one of 3 commits left");
    expect(narrowed.summary).toContain(`What 2 steps learnt: the first bad commit is one of 3 commits, from ${link(6)} up to ${link(8)}.`);

    const one = cancelledOutput(view(step(step(two, 6, "good", "passed"), 7, "good", "passed")), "maint_ainer");
    expect(one.title).toBe("Cancelled by @maint_ainer: 1 commit left");
    // The login is text: its underscore is no emphasis.
    expect(one.summary).toContain(`**Cancelled** by @maint\\_ainer. What 4 steps learnt: the first bad commit is ${link(8)}.`);
  });

  it("says which job each step runs, and how a writer stops it", () => {
    const summary = runningOutput(view({ steps: [{ sha: sha(5), position: 5, verdict: null }] })).summary;
    expect(summary).toContain("Each step runs the job `unit[arch=arm64]` at one commit");
    expect(summary).toContain(`To stop it, a writer presses **Stop bisect** on the regression's check run, \`kto / unit\` at ${link(10)}.`);
  });

  it("names its bisection by its external id, and no other check run's", () => {
    expect(bisectionOfExternalId(bisectExternalId("0a1b2c3d4e5f"))).toBe("0a1b2c3d4e5f");
    expect(bisectionOfExternalId("github:o/r:42")).toBeNull();
    expect(bisectionOfExternalId(undefined)).toBeNull();
  });

  it("keeps its buttons within GitHub's limits: identifier and label at most 20 characters, description at most 40", () => {
    for (const action of [STOP_BISECT_ACTION, BISECT_ACTION]) {
      expect(action.identifier.length).toBeLessThanOrEqual(20);
      expect(action.label.length).toBeLessThanOrEqual(20);
      expect(action.description.length).toBeLessThanOrEqual(40);
    }
    expect(STOP_BISECT_ACTION.identifier).not.toBe(BISECT_ACTION.identifier);
  });
});
