import { describe, expect, it } from "@jest/globals";
import { until } from "../../helpers/until.js";
import { bisectRuns, commitGraph, CULPRIT, LAST, press, regression as regressionOf, runDispatch, sha } from "./bisect-world.js";
import { closeSystemAfterEach, deliver, REPO, start } from "./system.js";

/**
 * A regression of the default branch bisected from its check run, end to end through the App
 * and the double: the Bisect button, who may press it, the steps as runs at older commits,
 * the `kto / bisect` check run naming the culprit, and a second press that starts nothing.
 */

closeSystemAfterEach();

// On github.com one step's run sends no results: that commit is skipped, and the culprit found all the same.
describe.each<["ghes" | "github.com", number]>([
  ["ghes", -1],
  ["github.com", CULPRIT + 1],
])("bisection from a check run (%s)", (server, silent) => {
  it("offers Bisect on a regression of the default branch, takes only a writer's press, names the first bad commit and bisects a range once", async () => {
    const s = await start({ server });
    commitGraph(s);
    const regression = await regressionOf(s);
    expect(regression.conclusion).toBe("failure");
    expect(regression.output.title).toMatch(/^1 regression/);
    expect(regression.actions?.map((a) => a.identifier)).toEqual(["rerun", "bisect", "bisect-stop"]);
    // The cost is said before anyone presses: 11 commits, ceil(log2 11) + 2 runs at most.
    expect(regression.output.summary).toContain("at most 6 runs of this job, one after the other");

    // Someone who cannot write presses: nothing starts.
    expect(await deliver(s, "check_run", press(regression, "passerby"))).toBe(200);
    expect(bisectRuns(s)).toEqual([]);
    expect(s.github.state.dispatches).toHaveLength(2);

    expect(await deliver(s, "check_run", press(regression, "maintainer"))).toBe(200);
    const bisect = await until(async () => bisectRuns(s)[0], "the kto / bisect check run");
    expect(bisect.head_sha).toBe(sha(LAST));
    expect(bisect.actions ?? []).toEqual([]);
    expect(bisect.status).toBe("in_progress");
    expect(bisect.output.title).toMatch(/^Testing [0-9a-f]{7}: step 1 of at most 6$/);

    const tested: number[] = [];
    for (let index = 2; bisectRuns(s)[0]!.status !== "completed"; index++) {
      tested.push(await runDispatch(s, index, silent));
      await until(async () => bisectRuns(s)[0]!.status === "completed" || s.github.state.dispatches[index + 1], `step ${index - 1} judged`);
      expect(tested.length).toBeLessThanOrEqual(6);
    }
    const done = bisectRuns(s)[0]!;
    expect(done.conclusion).toBe("neutral");
    expect(done.output.title).toBe(`First bad commit: ${sha(CULPRIT).slice(0, 7)} math: round add's result`);
    expect(done.output.summary).toContain(`/${REPO}/commit/${sha(CULPRIT)})`);
    expect(done.output.summary).toContain(`by dev${CULPRIT}`);
    expect(done.output.summary).toContain(tested.includes(silent) ? "Confidence: medium: 1 commit could not be judged" : "Confidence: high");
    if (server === "github.com") expect(tested).toContain(silent);
    expect(done.output.summary).toContain(`Found in ${tested.length} steps`);
    // Each step at the lowest priority.
    for (let index = 2; index < s.github.state.dispatches.length; index++)
      expect(JSON.parse(s.github.state.dispatches[index]!.inputs.job!)).toMatchObject({ spec: { priority: 1 } });

    // The bisection's own check run has no button; the regression's has Bisect and Stop bisect.
    expect(done.actions ?? []).toEqual([]);
    expect(regression.actions?.map((a) => a.identifier)).toEqual(["rerun", "bisect", "bisect-stop"]);

    // A second press of the same regression starts nothing more; Stop bisect on a finished bisection changes nothing.
    const dispatched = s.github.state.dispatches.length;
    const shown = structuredClone(done);
    expect(await deliver(s, "check_run", press(regression, "maintainer"))).toBe(200);
    expect(await deliver(s, "check_run", press(regression, "maintainer", "bisect-stop"))).toBe(200);
    expect(bisectRuns(s)).toEqual([shown]);
    expect((await s.app.store.bisections.recent(REPO, 5)).map((b) => b.status)).toEqual(["found"]);
    expect(s.github.state.dispatches).toHaveLength(dispatched);
    expect(s.github.rejected).toEqual([]);
  });
});
