import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../src/orchestrator/clock.js";
import type { Logger } from "../../src/orchestrator/logger.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../helpers/orchestrator.js";
import { withStore } from "../helpers/stores.js";
import { until } from "../helpers/until.js";

class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; err: unknown }[] = [];
  warn(fields: { err?: unknown }, message: string): void {
    this.lines.push({ level: "warn", message, err: fields.err });
  }
  error(fields: { err?: unknown }, message: string): void {
    this.lines.push({ level: "error", message, err: fields.err });
  }
}

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
      await until(async () => logger.lines.some((l) => l.message.startsWith("checking environments failed")), "the health check's failure logged");
      expect(logger.lines.find((l) => l.message.startsWith("checking environments failed"))).toMatchObject({
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
      await until(async () => logger.lines.some((l) => l.message.startsWith("delivering side effects failed")), "the delivery's failure logged");
      store.outbox.dueOutbox = failing;
      clock.advance(100);
      await until(async () => dispatcher.dispatched.length === 1, "the dispatch, once the store answers again");
      await service.stop();
    });
  });
});
