import { describe, expect, it } from "@jest/globals";
import { until } from "../../helpers/until.js";
import { systemClock } from "../../../src/orchestrator/clock.js";
import { bisectRuns, commitGraph, dispatchedAt, press, regression, runDispatch, sha } from "./bisect-world.js";
import { closeSystemAfterEach, deliver, REPO, report, start } from "./system.js";

/**
 * Stop bisect on a regression's check run (beside its Bisect: GitHub shows buttons on
 * completed check runs only, so the running `kto / bisect` has none): only a writer's press
 * takes, the step's job is cancelled (its workflow run with it), the bisection's check run
 * ends cancelled saying who cancelled it and what the steps had learnt, a press again changes
 * nothing, and Bisect pressed again starts a new bisection.
 */

closeSystemAfterEach();

describe("stopping a bisection from its regression's check run", () => {
  it("stops it at a writer's press, keeps what it learnt, and lets the regression be bisected anew", async () => {
    const s = await start();
    commitGraph(s);
    const regressed = await regression(s);
    expect(await deliver(s, "check_run", press(regressed, "maintainer"))).toBe(200);
    const running = await until(async () => bisectRuns(s)[0], "the kto / bisect check run");
    expect(running.actions ?? []).toEqual([]);
    expect(running.output.summary).toContain("To stop it, a writer presses **Stop bisect** on the regression's check run, `kto / unit`");
    expect(regressed.actions).toContainEqual({ label: "Stop bisect", identifier: "bisect-stop", description: "Stop bisecting; keep what it found" });
    expect(await runDispatch(s, 2)).toBe(5);
    // Step 2 runs at commit 8.
    const step = await dispatchedAt(s, 3);
    expect(step.at).toBe(8);
    await report(s, step.id, { kind: "started" });
    const runId = Number((await s.app.store.jobs.job(step.id))!.runId);

    // Someone who cannot write presses: nothing stops. Nor does a forged press of a button the running check run never had.
    expect(await deliver(s, "check_run", press(regressed, "passerby", "bisect-stop"))).toBe(200);
    expect(await deliver(s, "check_run", press(running, "maintainer", "cancel", true))).toBe(200);
    expect(bisectRuns(s)[0]!.status).toBe("in_progress");
    expect((await s.app.store.jobs.job(step.id))!.state).toBe("running");

    expect(await deliver(s, "check_run", press(regressed, "maintainer", "bisect-stop"))).toBe(200);
    const [record] = await s.app.store.bisections.recent(REPO, 1);
    expect(record!.status).toBe("cancelled");
    expect((await s.app.store.jobs.job(step.id))!.state).toBe("cancelled");
    await until(() => s.github.state.cancelled.includes(runId), "the step's workflow run cancelled");
    const done = await until(async () => bisectRuns(s).find((r) => r.status === "completed"), "the check run's end");
    expect(done.conclusion).toBe("cancelled");
    expect(done.actions).toEqual([]);
    expect(done.output.title).toBe("Cancelled by @maintainer: one of 6 commits left");
    expect(done.output.summary).toMatch(
      new RegExp(
        `^\\*\\*Cancelled\\*\\* by @maintainer\\. What 1 step learnt: the first bad commit is one of 6 commits, from \\[${sha(6).slice(0, 7)}\\]\\([^)]*/commit/${sha(6)}\\) up to \\[${sha(11).slice(0, 7)}\\]\\([^)]*/commit/${sha(11)}\\)\\.`,
      ),
    );
    // The dashboard's page says so too.
    const page = (await (await fetch(`${s.app.url}/kto/api/bisections?repo=${encodeURIComponent(REPO)}&id=${record!.id}`)).json()) as Record<string, unknown>;
    expect(page).toMatchObject({
      status: "cancelled",
      result: { kind: "cancelled", by: "maintainer", commits: 6, first: { sha: sha(6) }, last: { sha: sha(11) } },
    });

    // Stop bisect pressed again changes nothing.
    const dispatched = s.github.state.dispatches.length;
    const shown = structuredClone(done);
    expect(await deliver(s, "check_run", press(regressed, "maintainer", "bisect-stop"))).toBe(200);
    expect(bisectRuns(s)).toEqual([shown]);
    expect(await s.app.store.bisections.bisection(record!.id)).toEqual(record);

    // Bisect pressed again on the regression: a new bisection, from the start.
    expect(await deliver(s, "check_run", press(regressed, "maintainer"))).toBe(200);
    const again = await until(async () => bisectRuns(s).find((r) => r.status === "in_progress"), "a new kto / bisect check run");
    expect(again.id).not.toBe(done.id);
    expect((await dispatchedAt(s, dispatched)).at).toBe(5);
    expect((await s.app.store.bisections.recent(REPO, 5)).map((b) => b.status)).toEqual(["running", "cancelled"]);
    expect(s.github.rejected).toEqual([]);
  });

  it("stops it though the regression would not be offered for bisecting now: the job's bisection is found by the job, not by a new judgement", async () => {
    // A clock that can be moved past the base branch's policy cache.
    let skew = 0;
    const s = await start({ clock: { now: () => Date.now() + skew, setTimer: systemClock.setTimer } });
    commitGraph(s);
    const regressed = await regression(s);
    expect(await deliver(s, "check_run", press(regressed, "maintainer"))).toBe(200);
    await until(async () => bisectRuns(s)[0], "the kto / bisect check run");
    // A writer lists the regressed test as known while it is bisected: judged now, the job has no regression, and no Bisect offer.
    s.github.state.files.set(`${REPO}@master:.github/kto-known.yml`, `version: 1\nknown:\n  - tests: ["math › add"]\n`);
    skew = 61_000;
    expect(await deliver(s, "check_run", press(regressed, "maintainer", "bisect-stop"))).toBe(200);
    expect((await s.app.store.bisections.recent(REPO, 1)).map((b) => b.status)).toEqual(["cancelled"]);
    const done = await until(async () => bisectRuns(s).find((r) => r.status === "completed"), "the check run's end");
    expect(done.conclusion).toBe("cancelled");
    expect(s.github.rejected).toEqual([]);
  });
});
