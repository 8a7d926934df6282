import { describe, expect, it } from "@jest/globals";
import { dispatchGather, gatherFor, MAX_GATHER_MS } from "../../../src/app/github/dispatch-gather.js";
import { KTO_BUDGET } from "../../../src/app/github/github-limits.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import type { DispatchBatching } from "../../../src/orchestrator/dispatcher.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../../helpers/orchestrator.js";
import { ENGINES, withStore } from "../../helpers/stores.js";
import { advanceUntil, until } from "../../helpers/until.js";

/** Every lease of a pass for one repository in one dispatch. */
const ONE_RUN: DispatchBatching = { maxJobs: 256, maxChars: Infinity, entryChars: () => 0, groupOf: (plan) => plan.repo ?? "" };
const LIMITS = { pointsPerMinute: 1e9, contentPerMinute: 1e9, contentPerHour: 1e9 };

describe("the gather window", () => {
  it("is the base while a quarter of the hour's content budget or less is spent, then grows to a minute at three quarters", () => {
    expect(gatherFor(0, 3_000)).toBe(3_000);
    expect(gatherFor(0.25, 3_000)).toBe(3_000);
    expect(gatherFor(0.5, 3_000)).toBe(31_500);
    expect(gatherFor(0.75, 3_000)).toBe(MAX_GATHER_MS);
    expect(gatherFor(1.2, 0)).toBe(MAX_GATHER_MS);
    // A base above a minute is never shortened.
    expect(gatherFor(0.9, 90_000)).toBe(90_000);
  });

  it.each(ENGINES)("follows the busiest installation's content-creating requests of the last hour on %s, not reads or the App's own calls", async (engine) => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(10 * 3_600_000);
      const gather = dispatchGather(store.githubBudget, clock, 3_000);
      expect(await gather()).toBe(3_000);
      const half = KTO_BUDGET.contentPerHour / 2;
      // Sent more than an hour ago: forgotten.
      for (let i = 0; i < half; i++) await store.githubBudget.spend(1, clock.now() - 3_700_000, { points: 5, createsContent: true }, LIMITS);
      for (let i = 0; i < half; i++) await store.githubBudget.spend(2, clock.now() - 60_000, { points: 1, createsContent: false }, LIMITS);
      for (let i = 0; i < half; i++) await store.githubBudget.spend(0, clock.now() - 60_000, { points: 5, createsContent: true }, LIMITS);
      expect(await gather()).toBe(3_000);
      for (let i = 0; i < half; i++) await store.githubBudget.spend(3, clock.now() - 60_000, { points: 5, createsContent: true }, LIMITS);
      await store.githubBudget.spend(4, clock.now() - 60_000, { points: 5, createsContent: true }, LIMITS);
      expect(await gather()).toBe(gatherFor(0.5, 3_000));
    });
  });
});

describe.each(ENGINES)("the queue's gather on %s", (engine) => {
  it("leases nothing until the window since the last lease closes, then the jobs freed meanwhile in one dispatch", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const pool = new StaticPool();
      for (const id of ["a", "b", "c"]) pool.add(id, ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher(ONE_RUN);
      const service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "t", gather: async () => 3_000 } });
      await service.syncRunners();
      const submit = (n: string) =>
        service.submit({ id: `p${n}`, source: "t", workspace: "/", repo: "o/r", approved: true, now: clock.now(), jobs: [storeJob(`p${n}/1`, ["x86_64"], 2)] });

      await submit("1");
      // Nothing leased yet: the first pass does not wait.
      expect(await service.tick()).toBe(1);
      clock.advance(1_000);
      await submit("2");
      expect(await service.tick()).toBe(0);
      clock.advance(1_000);
      await submit("3");
      expect(await service.tick()).toBe(0);
      clock.advance(1_000);
      expect(await service.tick()).toBe(2);
      await service.sendDue();
      expect(dispatcher.batches.map((batch) => batch.entries.length)).toEqual([1, 2]);
      await service.stop();
    });
  });

  it("wakes itself when the window closes, so a held job goes out without another event", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const pool = new StaticPool();
      for (const id of ["a", "b"]) pool.add(id, ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher(ONE_RUN);
      const service = new OrchestratorService({
        store,
        dispatcher,
        pools: [pool],
        clock,
        options: { owner: "t", gather: async () => 20_000, pollMs: 3_600_000, lockTtlMs: 36_000_000 },
      });
      await service.start();
      const submit = (n: string) =>
        service.submit({ id: `p${n}`, source: "t", workspace: "/", repo: "o/r", approved: true, now: clock.now(), jobs: [storeJob(`p${n}/1`, ["x86_64"], 2)] });
      await submit("1");
      expect(
        await advanceUntil(
          async () => (await store.jobs.list({ states: ["dispatched"] })).length === 1,
          () => clock.advance(10),
        ),
      ).toBe(true);
      await submit("2");
      // Only the clock moves, a second at a time: no event after the submit wakes the queue.
      const leased = await until(
        async () => {
          const jobs = await store.jobs.list({ states: ["dispatched"] });
          if (jobs.length === 2) return jobs;
          clock.advance(1_000);
          return null;
        },
        "the held job leased when the window closed",
        20_000,
      );
      // A lease runs out a fixed time after it was taken: the second was taken a window after the first.
      const [first, second] = leased.map((job) => job.leaseExpires!);
      expect(second! - first!).toBeGreaterThanOrEqual(20_000);
      expect(second! - first!).toBeLessThan(30_000);
      await service.stop();
    });
  });
});
