import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import type { CancelRequest, DispatchRequest, Dispatcher } from "../../../src/orchestrator/dispatcher.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { errorText } from "../../../src/orchestrator/logger.js";
import { DEFAULT_OUTBOX, DeferredError, OutboxWorker } from "../../../src/orchestrator/outbox-worker.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { storeJob } from "../../helpers/orchestrator.js";
import { RecordingLogger } from "../../helpers/recording-logger.js";
import { submitPlan, withStore } from "../../helpers/stores.js";

/**
 * An effect the outbox puts off, or gives up, keeps why: the error's message and its
 * causes are stored with the effect (and with the job whose dispatch was given up), and
 * each failure is logged with the error itself.
 */

/** Throws what a test gives it, one error per dispatch. */
class FailingDispatcher implements Dispatcher {
  constructor(readonly errors: unknown[]) {}
  async dispatch(_request: DispatchRequest): Promise<{ runId: string | null }> {
    throw this.errors.shift() ?? new Error("no error left to throw");
  }
  async cancel(_request: CancelRequest): Promise<void> {}
}

/** Job j dispatched to environment e: its dispatch is the outbox's one effect. */
async function dispatched(store: Store, clock: ManualClock, lifecycle: JobLifecycle): Promise<void> {
  await submitPlan(store, { id: "p", source: "t", workspace: "/", approved: true, now: clock.now(), jobs: [storeJob("j", [], 2)] });
  await store.runners.upsertRunners([{ id: "e", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 0, scope: UNRESTRICTED }]);
  await lifecycle.dispatch((await store.jobs.job("j"))!, "e");
}

const refused = () => new Error("fetch failed", { cause: new Error("connect ECONNREFUSED 10.0.0.7:443") });

describe("an effect the outbox puts off keeps its cause", () => {
  it("a failed dispatch goes again later with the error's message and its cause stored with it, and is logged with the error", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const lifecycle = new JobLifecycle(store, clock);
      const logger = new RecordingLogger();
      const error = refused();
      const outbox = new OutboxWorker(store, new FailingDispatcher([error]), lifecycle, clock, DEFAULT_OUTBOX, null, () => 0, undefined, logger);
      await dispatched(store, clock, lifecycle);
      expect(await outbox.sendDue()).toBe(0);
      // Jitter 0: the first retry comes after half the base delay.
      expect(await store.outbox.dueOutbox(499)).toEqual([]);
      const [effect] = await store.outbox.dueOutbox(500);
      expect(effect).toMatchObject({ key: "dispatch:j#1", attempts: 1, lastError: "fetch failed: connect ECONNREFUSED 10.0.0.7:443" });
      expect(logger.lines).toEqual([{ level: "warn", message: "sending dispatch:j#1 failed; it goes again at 1970-01-01T00:00:00.500Z", err: error }]);
    });
  });

  it("a dispatch given up fails its attempt with the cause in the job's reason, kept with the effect too, and logs it", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const lifecycle = new JobLifecycle(store, clock);
      const logger = new RecordingLogger();
      const error = refused();
      const outbox = new OutboxWorker(
        store,
        new FailingDispatcher([error]),
        lifecycle,
        clock,
        { ...DEFAULT_OUTBOX, maxAttempts: 1 },
        null,
        () => 0,
        undefined,
        logger,
      );
      await dispatched(store, clock, lifecycle);
      await outbox.sendDue();
      expect(await store.jobs.job("j")).toMatchObject({
        state: "queued",
        attempt: 2,
        reason: "dispatch failed: fetch failed: connect ECONNREFUSED 10.0.0.7:443",
      });
      expect(await store.db.selectFrom("outbox").select(["idempotency_key", "last_error"]).where("failed_at", "is not", null).execute()).toEqual([
        { idempotency_key: "dispatch:j#1", last_error: "fetch failed: connect ECONNREFUSED 10.0.0.7:443" },
      ]);
      expect(logger.lines).toEqual([{ level: "warn", message: "sending dispatch:j#1 failed after 1 tries; it is given up", err: error }]);
    });
  });

  it("an effect put off because the far side asked to wait keeps why, and is not logged as a failure", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const lifecycle = new JobLifecycle(store, clock);
      const logger = new RecordingLogger();
      const wait = new DeferredError("GitHub's rate limit for the installation runs out; it resets at 30 s", 30_000);
      const outbox = new OutboxWorker(store, new FailingDispatcher([wait]), lifecycle, clock, DEFAULT_OUTBOX, null, () => 0, undefined, logger);
      await dispatched(store, clock, lifecycle);
      await outbox.sendDue();
      const [effect] = await store.outbox.dueOutbox(30_000);
      expect(effect).toMatchObject({ key: "dispatch:j#1", attempts: 0, lastError: wait.message });
      expect(logger.lines).toEqual([]);
    });
  });
});

describe("errorText", () => {
  it("follows an error's causes, outermost first, leaving out what is already said and stopping at a loop", () => {
    expect(errorText(refused())).toBe("fetch failed: connect ECONNREFUSED 10.0.0.7:443");
    // Octokit's error for a failed fetch takes its message from the cause of its cause.
    const lost = new Error("connect ECONNREFUSED 10.0.0.7:443", { cause: refused() });
    expect(errorText(lost)).toBe("connect ECONNREFUSED 10.0.0.7:443: fetch failed");
    const looped = new Error("outer");
    looped.cause = new Error("inner", { cause: looped });
    expect(errorText(looped)).toBe("outer: inner");
    expect(errorText("a string thrown")).toBe("a string thrown");
    expect(errorText(new Error("plain"))).toBe("plain");
  });
});
