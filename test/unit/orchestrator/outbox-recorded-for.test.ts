import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { DEFAULT_OUTBOX, OutboxWorker } from "../../../src/orchestrator/outbox-worker.js";
import type { PriorTries, Publisher } from "../../../src/orchestrator/publisher.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import type { JobRecord } from "../../../src/orchestrator/store/store.js";
import { RecordingDispatcher, storeJob } from "../../helpers/orchestrator.js";
import { submitPlan, withStore } from "../../helpers/stores.js";

/** What the publisher hears of each report: the job as it is now, and the state the report was recorded for. */
class RecordingPublisher implements Publisher {
  readonly reports: { state: string; recordedFor: string | undefined }[] = [];
  async publishJob(job: JobRecord, prior?: PriorTries): Promise<void> {
    this.reports.push({ state: job.state, recordedFor: prior?.recordedFor });
  }
  async publishPlan(): Promise<void> {}
}

describe("a job's reports as the outbox sends them", () => {
  it("name the state they were recorded for: a run of them, sent as one, the latest's", async () => {
    await withStore("sqlite", async (store) => {
      const clock = new ManualClock(0);
      const lifecycle = new JobLifecycle(store, clock, undefined, true);
      const publisher = new RecordingPublisher();
      const outbox = new OutboxWorker(store, new RecordingDispatcher(), lifecycle, clock, DEFAULT_OUTBOX, publisher);
      await submitPlan(store, { id: "p", source: "t", workspace: "/", approved: true, publish: true, now: clock.now(), jobs: [storeJob("j", [], 2)] });
      await store.runners.upsertRunners([{ id: "e", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 0, scope: UNRESTRICTED }]);
      await outbox.sendDue();
      await lifecycle.dispatch((await store.jobs.job("j"))!, "e");
      await lifecycle.recordRunEvent("j", 1, { kind: "started" });
      await lifecycle.recordRunEvent("j", 1, { kind: "finished", status: "failed", outcome: "failed", reason: "1 test failed" });
      await outbox.sendDue();
      expect(publisher.reports).toEqual([
        { state: "queued", recordedFor: "queued" },
        { state: "failed", recordedFor: "failed" },
      ]);
    });
  });
});
