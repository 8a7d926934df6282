import { describe, expect, it } from "@jest/globals";
import { RateLimitError } from "../../../src/app/github/github-limits.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { MAX_LIMIT_DEFERRALS, OutboxWorker } from "../../../src/orchestrator/outbox-worker.js";
import type { JobRecord } from "../../../src/orchestrator/store/store.js";
import { RecordingDispatcher, storeJob } from "../../helpers/orchestrator.js";
import { ENGINES, submitPlan, withStore } from "../../helpers/stores.js";
import { shaOf } from "./harness.js";

/** Effects GitHub keeps refusing with its rate limits are given up after a bound, except a finished job's last update. */

describe.each(ENGINES)("the outbox on %s, while GitHub keeps answering with a rate limit", (engine) => {
  it(`gives an effect up after ${MAX_LIMIT_DEFERRALS} limit answers, with why, and keeps a finished job's last update until it lands`, async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const lifecycle = new JobLifecycle(store, clock, undefined, true);
      let refusing = true;
      const published: string[] = [];
      const publisher = {
        publishJob: async (job: JobRecord) => {
          if (refusing) throw new RateLimitError(7, "secondary", clock.now() + 60_000, "GitHub's secondary rate limit");
          published.push(`${job.id} (${job.state})`);
        },
        publishPlan: async () => undefined,
      };
      const outbox = new OutboxWorker(store, new RecordingDispatcher(), lifecycle, clock, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, concurrency: 2 }, publisher);
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
        jobs: [storeJob("queued", [], 2), storeJob("finished", [], 2)],
      });
      await lifecycle.cancel((await store.jobs.job("finished"))!, "cancelled by a maintainer");
      for (let i = 0; i < MAX_LIMIT_DEFERRALS + 3; i++) {
        await outbox.sendDue();
        clock.advance(60_000);
      }
      const effects = await store.db.selectFrom("outbox").select(["job_id", "failed_at", "done_at", "last_error", "limit_deferrals"]).orderBy("id").execute();
      const queued = effects.filter((e) => e.job_id === "queued");
      expect(queued.every((e) => e.failed_at !== null)).toBe(true);
      expect(queued[0]!.last_error).toMatch(new RegExp(`^given up after ${MAX_LIMIT_DEFERRALS} of GitHub's rate limits: GitHub's secondary rate limit`));
      const last = effects.filter((e) => e.job_id === "finished");
      expect(last.every((e) => e.failed_at === null && e.done_at === null)).toBe(true);
      expect(Number(last[0]!.limit_deferrals)).toBeGreaterThan(MAX_LIMIT_DEFERRALS);
      expect((await store.outbox.finalReportBacklog()).count).toBe(last.length);
      refusing = false;
      await outbox.sendDue();
      expect(published).toEqual(["finished (cancelled)"]);
      expect((await store.outbox.finalReportBacklog()).count).toBe(0);
    });
  });
});
