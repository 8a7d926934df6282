import { describe, expect, it } from "@jest/globals";
import { until } from "../../helpers/until.js";
import { bisectRuns, commitGraph, CONFIG, press, regression, runDispatch, sha } from "./bisect-world.js";
import { checkRuns, closeSystemAfterEach, deliver, REPO, start, suite, type System } from "./system.js";

/**
 * A bisection whose steps reach commits that plan no job of the regressed suite: one whose
 * .github/kto.yml has no such suite, one whose .github/kto.yml is invalid. Each is skipped at
 * once, as `git bisect skip` does, with why on the check run; the search goes on, and ends
 * naming the range the skipped commits leave. The steps' path for 11 commits with the
 * culprit at 7: 5 (good), 8 (bad), then 6 and 7, which cannot be judged.
 */

closeSystemAfterEach();

const NO_SUITE = 6;
const INVALID = 7;
const configs = new Map<number, string | null>([
  [NO_SUITE, `version: 1\nsuites:\n${suite("board")}`],
  [INVALID, `${CONFIG}    timeout: soon\n`],
]);

/** The steps' commits, in order, as the bisection stored them. */
async function stepsOf(s: System): Promise<{ sha: string; verdict: string | null; note?: string }[]> {
  const [record] = await s.app.store.bisections.recent(REPO, 1);
  return (JSON.parse(record!.state) as { steps: { sha: string; verdict: string | null; note?: string }[] }).steps;
}

describe("a bisection step whose commit plans no such job", () => {
  it("is skipped with why, the search moves on, and the answer names the range the skipped commits leave", async () => {
    const s = await start();
    commitGraph(s, configs);
    expect(await deliver(s, "check_run", press(await regression(s), "maintainer"))).toBe(200);
    await until(async () => bisectRuns(s)[0], "the kto / bisect check run");
    expect(await runDispatch(s, 2)).toBe(5);
    expect(await runDispatch(s, 3)).toBe(8);
    const done = await until(async () => bisectRuns(s).find((r) => r.status === "completed"), "the bisection's end");

    // Nothing ran at the two commits: they were skipped without a plan.
    expect(s.github.state.dispatches).toHaveLength(4);
    expect(await stepsOf(s)).toEqual([
      expect.objectContaining({ sha: sha(5), verdict: "good" }),
      expect.objectContaining({ sha: sha(8), verdict: "bad" }),
      { position: NO_SUITE, sha: sha(NO_SUITE), verdict: "skip", note: "its .github/kto.yml plans no job of suite unit" },
      { position: INVALID, sha: sha(INVALID), verdict: "skip", note: "its .github/kto.yml is invalid: suites[0].timeout: expected a duration like 20m" },
    ]);
    expect(done.conclusion).toBe("neutral");
    expect(done.output.title).toBe("Inconclusive: one of 3 commits");
    expect(done.output.summary).toContain("only commits that could not be judged lie between the last good and the first bad");
    for (const at of [NO_SUITE, INVALID, 8]) expect(done.output.summary).toContain(`/${REPO}/commit/${sha(at)})`);
    // Listed under the steps, each skipped commit with why: "a655555: its .github/kto.yml plans no job of suite unit".
    const skipped = done.output.summary.slice(done.output.summary.indexOf("Skipped, as `git bisect skip` does:"));
    expect(skipped.split("\n").filter((line) => line.startsWith("- "))).toEqual([
      `- [${sha(NO_SUITE).slice(0, 7)}](${s.github.url}/${REPO}/commit/${sha(NO_SUITE)}): its .github/kto.yml plans no job of suite unit`,
      `- [${sha(INVALID).slice(0, 7)}](${s.github.url}/${REPO}/commit/${sha(INVALID)}): its .github/kto.yml is invalid: suites\\[0\\].timeout: expected a duration like 20m`,
    ]);
    // The skipped commits' configs are the bisection's to tell of: no kto / config check run on them.
    expect(checkRuns(s).filter((c) => c.name === "kto / config")).toEqual([]);
    expect(s.github.rejected).toEqual([]);
  });

  it("moves on after a failure past the skip: the state moved first, the end heard again plans what is left, and no step runs twice", async () => {
    const s = await start();
    // Commit 7's config, read right after commit 6 was skipped, fails once: what the skip
    // stored stands, and the outbox hears step 8's end again.
    const files = s.github.state.files;
    const read = files.get.bind(files);
    let armed = true;
    files.get = (key: string) => {
      if (armed && key === `${REPO}@${sha(NO_SUITE)}:.github/kto.yml`) {
        armed = false;
        s.github.state.failures.set("repos/get-content", [502]);
      }
      return read(key);
    };
    commitGraph(s, configs);
    expect(await deliver(s, "check_run", press(await regression(s), "maintainer"))).toBe(200);
    await until(async () => bisectRuns(s)[0], "the kto / bisect check run");
    expect(await runDispatch(s, 2)).toBe(5);
    const served = s.github.state.outageServed;
    expect(await runDispatch(s, 3)).toBe(8);
    const done = await until(async () => bisectRuns(s).find((r) => r.status === "completed"), "the bisection's end");
    expect(armed).toBe(false);
    expect(s.github.state.outageServed).toBe(served + 1);
    expect(done.output.title).toBe("Inconclusive: one of 3 commits");
    const steps = await stepsOf(s);
    expect(steps.map((step) => [step.sha, step.verdict])).toEqual([
      [sha(5), "good"],
      [sha(8), "bad"],
      [sha(NO_SUITE), "skip"],
      [sha(INVALID), "skip"],
    ]);
    expect(s.github.state.dispatches).toHaveLength(4);
    expect(s.github.rejected).toEqual([]);
  });
});
