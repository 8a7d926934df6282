import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import { openStore } from "../../src/orchestrator/store/open-store.js";
import { DEFAULT_OUTBOX } from "../../src/orchestrator/outbox-worker.js";
import type { DispatchRequest } from "../../src/orchestrator/dispatcher.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../helpers/orchestrator.js";
import { freshStore, submitPlan } from "../helpers/stores.js";

describe("several App replicas on one PostgreSQL queue", () => {
  it("lets one replica run the queue, and another take over when it dies", async () => {
    const { store: first, location, dispose } = await freshStore("postgres");
    const second = await openStore(location);
    try {
      const clock = new ManualClock(0);
      const pool = new StaticPool();
      pool.add("e1", [], 10);
      const make = (store: typeof first, owner: string, dispatcher: RecordingDispatcher) =>
        new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner, lockTtlMs: 10_000 } });
      const a = make(first, "replica-a", new RecordingDispatcher());
      const bDispatcher = new RecordingDispatcher();
      const b = make(second, "replica-b", bDispatcher);
      await a.syncRunners();
      await submitPlan(first, { id: "p1", source: "s", workspace: "/w", approved: true, now: 0, jobs: [storeJob("j1", [], 2)] });
      expect(await a.tick()).toBe(1);
      await submitPlan(second, { id: "p2", source: "s", workspace: "/w", approved: true, now: 0, jobs: [storeJob("j2", [], 2)] });
      expect(await b.tick()).toBe(0); // a holds the queue
      expect((await b.health()).leader).toBe(false);
      clock.advance(10_001); // a stops renewing: it died
      expect(await b.tick()).toBe(1);
      expect((await b.health()).leader).toBe(true);
      await b.sendDue();
      expect(bDispatcher.dispatched.map((d) => d.job.id)).toEqual(["j2"]);
    } finally {
      await second.close();
      await dispose();
    }
  });
});

/** A dispatcher whose first dispatch hangs until released: the leader stalls mid-delivery. */
class StallingDispatcher extends RecordingDispatcher {
  private release: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));
  private stalled: () => void = () => undefined;
  readonly stalledOnce = new Promise<void>((resolve) => (this.stalled = resolve));

  override async dispatch(request: DispatchRequest): Promise<{ runId: string }> {
    const result = await super.dispatch(request);
    if (this.dispatched.length === 1) {
      this.stalled();
      await this.gate;
    }
    return result;
  }

  resume(): void {
    this.release();
  }
}

describe("a queue leader that loses its lease while sending the outbox", () => {
  // Each case: how the second replica comes to hold the queue while the first is stalled in a send.
  const cases: [string, (clocks: { a: ManualClock; b: ManualClock }) => void][] = [
    ["it stalls past its lease", ({ a, b }) => [a, b].forEach((clock) => clock.advance(10_001))],
    ["the other replica's clock runs ahead", ({ b }) => b.advance(10_001)],
  ];

  it.each(cases)("sends nothing more once another replica leads: %s", async (_, overtake) => {
    const { store: first, location, dispose } = await freshStore("postgres");
    const second = await openStore(location);
    try {
      const clocks = { a: new ManualClock(0), b: new ManualClock(0) };
      const pool = new StaticPool();
      pool.add("e1", [], 10);
      const outbox = { ...DEFAULT_OUTBOX, concurrency: 1 };
      const aDispatcher = new StallingDispatcher();
      const bDispatcher = new RecordingDispatcher();
      const replica = (owner: "a" | "b", store: typeof first, dispatcher: RecordingDispatcher) =>
        new OrchestratorService({ store, dispatcher, pools: [pool], clock: clocks[owner], options: { owner, lockTtlMs: 10_000, outbox } });
      const a = replica("a", first, aDispatcher);
      const b = replica("b", second, bDispatcher);
      await a.syncRunners();
      const jobs = ["j1", "j2", "j3"].map((id) => storeJob(id, [], 2));
      await submitPlan(first, { id: "p", source: "s", workspace: "/w", approved: true, now: 0, jobs });
      expect(await a.tick()).toBe(3); // its outbox pass starts, and hangs in the first send
      await aDispatcher.stalledOnce;
      overtake(clocks);
      await b.tick();
      expect((await b.health()).leader).toBe(true);
      await b.sendDue();
      aDispatcher.resume();
      await a.sendDue();

      const stalledOn = aDispatcher.dispatched[0]!.job.id;
      expect(aDispatcher.dispatched.map((d) => d.job.id)).toEqual([stalledOn]);
      // The one in flight when the lease ran out may go twice (its lookup finds the run); no other does.
      const others = bDispatcher.dispatched.map((d) => d.job.id).filter((id) => id !== stalledOn);
      expect(others.sort()).toEqual(["j1", "j2", "j3"].filter((id) => id !== stalledOn));

      // The second replica dies in turn: the first leads again, and delivers again.
      clocks.a.advance(20_002);
      await submitPlan(first, { id: "p2", source: "s", workspace: "/w", approved: true, now: clocks.a.now(), jobs: [storeJob("j4", [], 2)] });
      expect(await a.tick()).toBe(1);
      await a.sendDue();
      expect(aDispatcher.dispatched.map((d) => d.job.id)).toEqual([stalledOn, "j4"]);
    } finally {
      await second.close();
      await dispose();
    }
  });
});

describe("resource manager", () => {
  it("takes a failed runner out, gives its job back, and puts the pool's replacement in", async () => {
    const { store, dispose } = await freshStore("sqlite");
    try {
      const clock = new ManualClock(0);
      const pool = new StaticPool();
      pool.add("board-1", ["arm64"], 1);
      const service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [pool], clock, options: { owner: "o" } });
      await service.syncRunners();
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 0, jobs: [storeJob("j", ["arm64"], 2)] });
      await service.tick();
      expect((await store.jobs.job("j"))?.runnerId).toBe("board-1");
      pool.healthy.delete("board-1");
      expect(await service.checkRunners()).toEqual({ failed: ["board-1"], replaced: ["board-1-r1"] });
      expect(await store.jobs.job("j")).toMatchObject({ state: "queued", attempt: 2 });
      clock.advance(60_000);
      await service.tick();
      expect(await store.jobs.job("j")).toMatchObject({ state: "dispatched", runnerId: "board-1-r1" });
    } finally {
      await dispose();
    }
  });

  it("caps the jobs one repository holds at once, so a busy one cannot starve the rest", async () => {
    const { store, dispose } = await freshStore("sqlite");
    try {
      const pool = new StaticPool();
      pool.add("e", [], 4);
      const service = new OrchestratorService({
        store,
        dispatcher: new RecordingDispatcher(),
        pools: [pool],
        clock: new ManualClock(0),
        options: { owner: "o", repoCap: 2 },
      });
      await service.syncRunners();
      await submitPlan(store, {
        id: "busy",
        source: "s",
        workspace: "/w",
        repo: "big/repo",
        approved: true,
        now: 0,
        jobs: [1, 2, 3, 4].map((i) => storeJob(`b${i}`, [], 4)),
      });
      await submitPlan(store, { id: "small", source: "s", workspace: "/w", repo: "small/repo", approved: true, now: 0, jobs: [storeJob("s1", [], 1)] });
      expect(await service.tick()).toBe(3);
      expect((await store.jobs.list({ states: ["dispatched"] })).map((j) => j.id).sort()).toEqual(["b1", "b2", "s1"]);
    } finally {
      await dispose();
    }
  });
});
