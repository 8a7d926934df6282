import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import type { DispatchBatching } from "../../../src/orchestrator/dispatcher.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../../helpers/orchestrator.js";
import { ENGINES, withStore } from "../../helpers/stores.js";

/** Every lease of a pass for one repository in one dispatch. */
const ONE_RUN: DispatchBatching = { maxJobs: 256, maxChars: Infinity, entryChars: () => 0, groupOf: (plan) => plan.repo ?? "" };

/**
 * A batch's run holds several jobs, each on its own runner: the run ending for one of them
 * (its runner lost) gives back that job alone, and the run is bound to all of them.
 */
describe.each(ENGINES)("a batch's run on %s", (engine) => {
  it("is every job's run, and a lost runner fails only the job leased to it", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const pool = new StaticPool();
      for (const id of ["a", "b", "c"]) pool.add(id, ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher(ONE_RUN);
      const service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "t" } });
      await service.syncRunners();
      await service.submit({
        id: "p",
        source: "t",
        workspace: "/",
        repo: "o/r",
        approved: true,
        now: clock.now(),
        jobs: ["1", "2", "3"].map((n) => storeJob(`p/${n}`, ["x86_64"], 2)),
      });
      expect(await service.tick()).toBe(3);
      await service.sendDue();
      expect(dispatcher.batches).toHaveLength(1);
      const jobs = await store.jobs.list();
      expect(jobs.map((job) => job.runId)).toEqual(["run-1", "run-1", "run-1"]);
      expect(new Set(jobs.map((job) => job.batchKey)).size).toBe(1);

      const lost = jobs.find((job) => job.runnerId === "b")!;
      expect(await service.failRun("run-1", { runnerIds: new Set(["b"]), jobName: null }, "the runner went away")).toBe(1);
      const after = new Map((await store.jobs.list()).map((job) => [job.id, job]));
      expect(after.get(lost.id)).toMatchObject({ state: "queued", attempt: 2 });
      for (const job of jobs.filter((j) => j.id !== lost.id)) expect(after.get(job.id)).toMatchObject({ state: "dispatched", attempt: 1 });
      await service.stop();
    });
  });

  it("of one job fails that job even when its runner is no longer known", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const pool = new StaticPool();
      pool.add("a", ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher(ONE_RUN);
      const service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "t" } });
      await service.syncRunners();
      await service.submit({ id: "p", source: "t", workspace: "/", repo: "o/r", approved: true, now: clock.now(), jobs: [storeJob("p/1", ["x86_64"], 2)] });
      await service.tick();
      await service.sendDue();
      expect(await service.failRun("run-1", { runnerIds: new Set(), jobName: "p/1" }, "the run ended without a report")).toBe(1);
      expect(await store.jobs.job("p/1")).toMatchObject({ state: "queued", attempt: 2 });
      await service.stop();
    });
  });

  it("fails no sibling when a job's matrix job ends again after that job went back to the queue, by runner or by name", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const pool = new StaticPool();
      for (const id of ["a", "b"]) pool.add(id, ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher(ONE_RUN);
      const service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "t" } });
      await service.syncRunners();
      await service.submit({
        id: "p",
        source: "t",
        workspace: "/",
        repo: "o/r",
        approved: true,
        now: clock.now(),
        jobs: ["1", "2"].map((n) => storeJob(`p/${n}`, ["x86_64"], 2)),
      });
      expect(await service.tick()).toBe(2);
      await service.sendDue();
      const onB = (await store.jobs.list()).find((job) => job.runnerId === "b")!;
      const onA = (await store.jobs.list()).find((job) => job.runnerId === "a")!;
      expect(await service.failRun("run-1", { runnerIds: new Set(["b"]), jobName: onB.name }, "the runner went away")).toBe(1);
      // The run now holds only the job on a: the same matrix job's end told again (a
      // redelivery), or told with its runner no longer known, is still not a's.
      expect(await service.failRun("run-1", { runnerIds: new Set(["b"]), jobName: onB.name }, "the runner went away")).toBe(0);
      expect(await service.failRun("run-1", { runnerIds: new Set(), jobName: onB.name }, "the run ended without a report")).toBe(0);
      expect(await store.jobs.job(onA.id)).toMatchObject({ state: "dispatched", attempt: 1 });
      await service.stop();
    });
  });

  it.each([10, 40])("sends a plan of 40 jobs on %i runners in as many dispatches as passes that leased, each job on its own runner", async (runners) => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const pool = new StaticPool();
      for (let i = 0; i < runners; i++) pool.add(`r${i}`, ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher(ONE_RUN);
      const service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "t" } });
      await service.syncRunners();
      const ids = Array.from({ length: 40 }, (_, i) => `p/${i}`);
      await service.submit({
        id: "p",
        source: "t",
        workspace: "/",
        repo: "o/r",
        approved: true,
        now: clock.now(),
        jobs: ids.map((id) => storeJob(id, ["x86_64"], 2)),
      });
      let passes = 0;
      while ((await store.jobs.list({ states: ["queued", "dispatched"] })).length > 0) {
        if ((await service.tick()) > 0) passes += 1;
        await service.sendDue();
        for (const job of await store.jobs.list({ states: ["dispatched"] }))
          await service.recordRunEvent(job.id, job.attempt, { kind: "finished", status: "succeeded" });
      }
      expect(passes).toBe(Math.ceil(40 / runners));
      expect(dispatcher.batches).toHaveLength(passes);
      expect(dispatcher.dispatched.map((d) => d.job.id).sort()).toEqual([...ids].sort());
      for (const batch of dispatcher.batches) expect(new Set(batch.entries.map((e) => e.runnerId)).size).toBe(batch.entries.length);
      await service.stop();
    });
  });
});
