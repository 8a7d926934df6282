import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { app, deliver, expectConsistentStore, hostileValue, openedPullRequest, sign256, useFuzzedApp } from "./fuzzed-app.js";
import { until } from "../../helpers/until.js";

/** Job reports of any shape, to any job id, with a run's real token. */

describe("no input takes the App down", () => {
  useFuzzedApp();

  it("job reports of any shape get an answer in 4xx, never a 500, and change no job they do not fit", async () => {
    const pr = openedPullRequest();
    expect(await deliver("pull_request", pr)).toBe(200);
    // No runner is registered: the job stays queued unless a report moves it.
    const job = await until(async () => (await app.store.jobs.list()).find((j) => j.state === "queued"), "a queued job");
    const token = await sign256({});
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileValue,
          fc.record(
            {
              attempt: hostileValue,
              kind: fc.oneof(fc.constantFrom("started", "heartbeat", "finished", "exploded"), hostileValue),
              status: hostileValue,
              result: hostileValue,
            },
            { requiredKeys: [] },
          ),
        ),
        fc.constantFrom(job.id, "no-such-job", "../../kto/status", "%E0%A4%A"),
        async (body, id) => {
          const response = await fetch(`${app.url}/kto/api/jobs/${id.startsWith("%") ? id : encodeURIComponent(id)}/events`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await response.arrayBuffer();
          expect(response.status).toBeGreaterThanOrEqual(400);
          // 503 is the App's "ask again" while GitHub does not list a run yet, and says when.
          if (response.status === 503) expect(response.headers.get("retry-after")).not.toBeNull();
          else expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
    // The token is for a run that is not this job's: nothing above could move it.
    expect((await app.store.jobs.job(job.id))?.state).toBe("queued");
    await expectConsistentStore();
  }, 300_000);
});
