import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { dashboardData } from "../../../src/app/http/dashboard.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { StatusTracker } from "../../../src/orchestrator/status-tracker.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { storeBuild, storeDependent, storeJob } from "../../helpers/orchestrator.js";
import { freshStore } from "../../helpers/stores.js";

/** The dashboard and the counts as the graph changes them: jobs waiting for a build, and jobs skipped because of one. */
describe("the dashboard of a plan with a build", () => {
  let store: Store;
  let dispose: () => Promise<void>;
  const clock = new ManualClock(1_700_000_000_000);

  beforeEach(async () => {
    ({ store, dispose } = await freshStore("sqlite"));
    const lifecycle = new JobLifecycle(store, clock, undefined, true);
    await lifecycle.submit({
      id: "p",
      source: "kto.yml",
      workspace: "/w",
      approved: true,
      now: clock.now(),
      jobs: [storeBuild("p/b", "x86_64-kunit", [], 2), storeDependent("p/kunit", "x86_64-kunit", [], 3), storeJob("p/lint", [], 1)],
    });
  });

  afterEach(async () => {
    await dispose();
  });

  it("lists a job waiting for its build after the queued ones, with the build named, and counts it as waiting", async () => {
    const data = await dashboardData(store, "https://github.com", clock.now());
    expect(data.queue.map((j) => [j.id, j.waitingFor])).toEqual([
      ["p/b", null],
      ["p/lint", null],
      ["p/kunit", "x86_64-kunit"],
    ]);
    const status = await new StatusTracker(store).snapshot();
    expect(status.counts.waiting).toBe(1);
    expect(status.waiting).toBe(3);
  });

  it("shows a skipped job among the finished, skipped, naming the build and how it ended, and counts it as finished", async () => {
    const lifecycle = new JobLifecycle(store, clock, undefined, true);
    await lifecycle.cancel((await store.jobs.job("p/b"))!, "not needed");
    const data = await dashboardData(store, "https://github.com", clock.now());
    const kunit = data.recent.find((j) => j.id === "p/kunit")!;
    expect(kunit).toMatchObject({ state: "skipped", conclusion: "skipped", title: "build x86_64-kunit was cancelled: not needed", durationMs: null });
    const status = await new StatusTracker(store).snapshot();
    expect(status.counts.skipped).toBe(1);
    expect(status.finished).toBe(2);
  });
});
