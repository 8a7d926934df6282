import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { app, CONFIG, deliver, example, expectStatusMatchesStore, github, REPO, report, token, useAppUnderTest } from "./app-under-test.js";

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  it("Property 4: real-time status accuracy — /kto/status equals the store's truth after every event and report", async () => {
    let pr = 100;
    const step = fc.oneof(
      fc.constant({ kind: "open" as const }),
      fc.record({ kind: fc.constant("report" as const), pick: fc.nat(), status: fc.constantFrom("started", "succeeded", "failed", "errored") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        for (const s of steps) {
          if (s.kind === "open") {
            const payload = example("pull_request", "opened") as { pull_request: { number: number; head: { sha: string } } };
            payload.pull_request.number = ++pr;
            payload.pull_request.head.sha = pr.toString(16).padStart(40, "0");
            github.state.files.set(`${REPO}@${payload.pull_request.head.sha}:.github/kto.yml`, CONFIG);
            expect(await deliver("pull_request", payload)).toBe(200);
          } else {
            const active = await app.store.jobs.list({ states: ["dispatched", "running"] });
            const job = active[s.pick % Math.max(1, active.length)];
            if (job?.runId) {
              const bearer = await token({ repository: REPO, run_id: job.runId });
              const body =
                s.status === "started"
                  ? { attempt: job.attempt, kind: "started" }
                  : { attempt: job.attempt, kind: "finished", status: s.status, infrastructure: s.status === "errored" };
              expect((await report(job.id, bearer, body)).status).toBe(200);
            }
          }
          await expectStatusMatchesStore();
        }
      }),
      { numRuns: 6 },
    );
    expect(github.rejected).toEqual([]);
  });
});
