import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../src/orchestrator/job-lifecycle.js";
import { DEFAULT_OUTBOX, OutboxWorker } from "../../src/orchestrator/outbox-worker.js";
import { UNRESTRICTED } from "../../src/orchestrator/scope.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../helpers/orchestrator.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { submitPlan, withStore } from "../helpers/stores.js";
import { until } from "../helpers/until.js";

describe("the orchestrator's background work fails out loud", () => {
  it("a failing health check and a failing delivery are each logged with their cause, and the service keeps going", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const pool = new StaticPool();
      pool.add("env-a", ["x86_64"], 1);
      const dispatcher = new RecordingDispatcher();
      const logger = new RecordingLogger();
      const service = new OrchestratorService({
        store,
        dispatcher,
        pools: [pool],
        clock,
        logger,
        options: { owner: "t", pollMs: 100, outboxPollMs: 100, healthCheckMs: 100, lockTtlMs: 1_000 },
      });
      await service.start();
      // The pool's host stops answering: the periodic sync and health check fail.
      pool.list = async () => {
        throw new Error("pool unreachable");
      };
      clock.advance(100);
      await until(async () => logger.lines.some((l) => l.message.startsWith("checking runners failed")), "the health check's failure logged");
      expect(logger.lines.find((l) => l.message.startsWith("checking runners failed"))).toMatchObject({
        level: "error",
        err: new Error("pool unreachable"),
      });

      // A dispatch that fails for ever: the outbox's pass fails, is logged, and is retried.
      const failing = store.outbox.dueOutbox.bind(store.outbox);
      store.outbox.dueOutbox = async () => {
        throw new Error("database is locked");
      };
      await service.submit({ id: "p", source: "t", workspace: "/", approved: true, now: 0, jobs: [storeJob("j", ["x86_64"], 2)] });
      clock.advance(100);
      await until(async () => logger.lines.some((l) => l.message.startsWith("sending side effects failed")), "the delivery's failure logged");
      store.outbox.dueOutbox = failing;
      clock.advance(100);
      await until(async () => dispatcher.dispatched.length === 1, "the dispatch, once the store answers again");
      await service.stop();
    });
  });
});

describe("a failure that changes state keeps its cause", () => {
  it("a health check that throws takes its runner offline, the error's message in its job's reason, and logs the cause", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const pool = new StaticPool();
      pool.add("env-a", ["x86_64"], 1);
      const logger = new RecordingLogger();
      const service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [pool], clock, logger, options: { owner: "t" } });
      await service.syncRunners();
      await service.submit({ id: "p", source: "t", workspace: "/", approved: true, now: 0, jobs: [storeJob("j", ["x86_64"], 2)] });
      await service.tick();
      expect(await store.jobs.job("j")).toMatchObject({ state: "dispatched", runnerId: "env-a" });

      const unreachable = new Error("connect ECONNREFUSED 10.0.0.7:22");
      const noCapacity = new Error("the host pool has no capacity left");
      pool.unreachable.set("env-a", unreachable);
      pool.replaceFailure = noCapacity;
      expect(await service.checkRunners()).toEqual({ failed: ["env-a"], replaced: [] });
      expect((await store.runners.list()).find((e) => e.id === "env-a")?.state).toBe("offline");
      expect(await store.jobs.job("j")).toMatchObject({
        state: "queued",
        runnerId: null,
        reason: "runner env-a failed its health check: connect ECONNREFUSED 10.0.0.7:22",
      });
      expect(logger.lines).toEqual([
        { level: "warn", message: "the health check of runner env-a failed; it goes offline", err: unreachable },
        { level: "warn", message: "replacing runner env-a failed; it stays offline with nothing in its place", err: noCapacity },
      ]);
      await service.stop();
    });
  });

  it("a failing question whether this process may send stops the pass and is logged with its cause", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const lifecycle = new JobLifecycle(store, clock);
      const dispatcher = new RecordingDispatcher();
      const logger = new RecordingLogger();
      const lost = new Error("Connection terminated unexpectedly");
      const outbox = new OutboxWorker(store, dispatcher, lifecycle, clock, DEFAULT_OUTBOX, null, Math.random, () => Promise.reject(lost), logger);
      await submitPlan(store, { id: "p", source: "t", workspace: "/", approved: true, now: 0, jobs: [storeJob("j", [], 2)] });
      await store.runners.upsertRunners([{ id: "e", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 0, scope: UNRESTRICTED }]);
      await lifecycle.dispatch((await store.jobs.job("j"))!, "e");
      expect(await outbox.sendDue()).toBe(0);
      expect(dispatcher.dispatched).toEqual([]);
      expect(await store.outbox.outboxPending()).toBe(1);
      expect(logger.lines).toEqual([
        { level: "warn", message: "asking whether this process may send side effects failed; the rest wait for the next pass", err: lost },
      ]);
    });
  });
});
