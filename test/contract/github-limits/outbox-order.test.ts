import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { OutboxWorker } from "../../../src/orchestrator/outbox-worker.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import type { JobRecord } from "../../../src/orchestrator/store/store.js";
import { RecordingDispatcher, storeJob } from "../../helpers/orchestrator.js";
import { ENGINES, withStore, submitPlan } from "../../helpers/stores.js";
import { shaOf } from "./harness.js";
import { until } from "../../helpers/until.js";

/** The order the outbox sends effects in, where GitHub's limits make every write count: dispatches first, each job's own in order, an installation's one job at a time. */

describe.each(ENGINES)("the outbox on %s", (engine) => {
  it("sends a dispatch before the check runs decided before it, keeping each job's own effects in order", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const lifecycle = new JobLifecycle(store, clock, undefined, true);
      const calls: string[] = [];
      const dispatcher = new RecordingDispatcher();
      const publisher = { publishJob: async (job: JobRecord) => void calls.push(`report ${job.id} (${job.state})`), publishPlan: async () => undefined };
      const recording = {
        dispatch: async (r: Parameters<RecordingDispatcher["dispatch"]>[0]) => (
          calls.push(`dispatch ${r.entries.map((e) => e.job.id).join(", ")}`),
          dispatcher.dispatch(r)
        ),
        cancel: async (r: Parameters<RecordingDispatcher["cancel"]>[0]) => (calls.push(`cancel ${r.jobId}`), dispatcher.cancel(r)),
      };
      const outbox = new OutboxWorker(store, recording, lifecycle, clock, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, concurrency: 1 }, publisher);
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        approved: true,
        publish: true,
        now: 1_000,
        jobs: Array.from({ length: 6 }, (_, i) => storeJob(`j${i}`, [], 2)),
      });
      await store.runners.upsertRunners([{ id: "e", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 1_000, scope: UNRESTRICTED }]);
      await lifecycle.dispatch((await store.jobs.job("j5"))!, "e");
      await outbox.sendDue();
      // j5's check run is created first (its own earlier effect, shown as it is now), then its dispatch, then everyone else's check runs.
      expect(calls).toEqual([
        "report j5 (dispatched)",
        "dispatch j5",
        "report j0 (queued)",
        "report j1 (queued)",
        "report j2 (queued)",
        "report j3 (queued)",
        "report j4 (queued)",
      ]);
      // A cancel frees hardware: it goes before check runs decided earlier, and its job's conclusion right after it.
      calls.length = 0;
      await submitPlan(store, {
        id: "q",
        source: "s",
        workspace: "/w",
        approved: true,
        publish: true,
        now: 1_000,
        jobs: Array.from({ length: 3 }, (_, i) => storeJob(`q${i}`, [], 2)),
      });
      await lifecycle.cancel((await store.jobs.job("j5"))!, "superseded");
      await outbox.sendDue();
      expect(calls).toEqual(["cancel j5", "report j5 (cancelled)", "report q0 (queued)", "report q1 (queued)", "report q2 (queued)"]);
    });
  });
});

describe.each(ENGINES)("the outbox on %s, where GitHub takes an installation's writes one at a time", (engine) => {
  it("sends an installation's effects one job at a time, so a dispatch queues behind one write, not one per worker", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const lifecycle = new JobLifecycle(store, clock, undefined, true);
      let inFlight = 0;
      let most = 0;
      const started: string[] = [];
      // Each call takes a while, as an installation's writes do behind GitHub's pacing.
      const slow = async (what: string) => {
        started.push(what);
        inFlight += 1;
        most = Math.max(most, inFlight);
        // While j0's check run is being created, a runner frees up for j3.
        if (what === "report j0") {
          await lifecycle.dispatch((await store.jobs.job("j3"))!, "e2");
          void outbox.sendDue();
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
      };
      const publisher = { publishJob: async (job: JobRecord) => slow(`report ${job.id}`), publishPlan: async () => undefined };
      const dispatcher = {
        dispatch: async (r: { entries: { job: JobRecord }[] }) => (await slow(`dispatch ${r.entries.map((e) => e.job.id).join(", ")}`), { runId: "1" }),
        cancel: async () => undefined,
      };
      const outbox = new OutboxWorker(
        store,
        dispatcher,
        lifecycle,
        clock,
        { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, concurrency: 4, lanesPerInstallation: 1 },
        publisher,
      );
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        installationId: 7,
        repo: "o/r",
        headSha: shaOf(1),
        approved: true,
        publish: true,
        now: 1_000,
        jobs: Array.from({ length: 8 }, (_, i) => storeJob(`j${i}`, [], 2)),
      });
      await store.runners.upsertRunners(
        ["e", "e2"].map((id) => ({ id, pool: "static", labels: [], capacity: 1, state: "online" as const, lastSeen: 1_000, scope: UNRESTRICTED })),
      );
      await lifecycle.dispatch((await store.jobs.job("j7"))!, "e");
      await outbox.sendDue();
      await until(() => started.length === 10, "every effect delivered");
      expect(most).toBe(1);
      // j7's check run (its own earlier effect) and dispatch, then the others' check runs,
      // but j3's go next once it is dispatched.
      expect(started).toEqual([
        "report j7",
        "dispatch j7",
        "report j0",
        "report j3",
        "dispatch j3",
        "report j1",
        "report j2",
        "report j4",
        "report j5",
        "report j6",
      ]);
    });
  });
});
