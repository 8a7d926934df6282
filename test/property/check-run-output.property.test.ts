import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { CheckRunPublisher } from "../../src/app/github/check-run-publisher.js";
import { SUMMARY_LIMIT } from "../../src/app/github/check-run-limits.js";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../src/orchestrator/job-lifecycle.js";
import { UNRESTRICTED } from "../../src/orchestrator/scope.js";
import type { Store } from "../../src/orchestrator/store/store.js";
import { APP_ID, startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { installationOctokits } from "../helpers/installation-octokits.js";
import { jobReport } from "../helpers/job-report.js";
import { storeJob } from "../helpers/orchestrator.js";
import { freshStore, submitPullRequestPlan } from "../helpers/stores.js";

/**
 * Whatever a job prints, in any script, the check run kto sends for it is one GitHub takes:
 * its summary within 65,535 bytes of UTF-8, every other field within its limit, and the
 * double, which counts them as GitHub does, accepts it and shows the job completed.
 */

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

/** Any text, long enough to pass the limits: a run of one piece of any code points (astral ones too) with a tail. */
const anyText = fc
  .tuple(fc.string({ unit: "binary", minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 40_000 }), fc.string({ unit: "binary", maxLength: 40 }))
  .map(([piece, times, tail]) => `${piece.repeat(times)}${tail}`);

describe("a finished job's check run, whatever text it carries", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  const clock = new ManualClock(1_700_000_000_000);
  let plans = 0;

  beforeAll(async () => {
    github = await startGitHubApiDouble();
    ({ store, dispose } = await freshStore("sqlite"));
    await store.runners.upsertRunners([
      { id: "rack-1", pool: "static", labels: ["x86_64"], capacity: 1, state: "online", lastSeen: clock.now(), scope: UNRESTRICTED },
    ]);
  });

  afterAll(async () => {
    await dispose();
    await github.close();
  });

  it("is sent within GitHub's byte limits and completes in the double, as a reason or as failing tests' names and reasons", async () => {
    const lifecycle = new JobLifecycle(store, clock, undefined, true);
    const publisher = new CheckRunPublisher(store, installationOctokits(github), { now: () => clock.now(), serverUrl: "https://github.com", appId: APP_ID });
    await fc.assert(
      fc.asyncProperty(anyText, fc.boolean(), async (text, asFailures) => {
        const planId = `p${(plans += 1)}`;
        await submitPullRequestPlan(store, {
          id: planId,
          repo: REPO,
          headSha: SHA,
          now: clock.now(),
          jobs: [storeJob(`${planId}/unit`, ["x86_64"], 2, { name: `unit ${planId}` })],
        });
        const jobId = `${planId}/unit`;
        await lifecycle.dispatch((await store.jobs.job(jobId))!, "rack-1");
        const failures = [1, 2, 3].map((line) => ({
          name: text,
          path: [text],
          status: "failed" as const,
          reason: text,
          location: { file: "lib/math.c", line },
        }));
        await lifecycle.recordRunEvent(
          jobId,
          1,
          asFailures
            ? { kind: "finished", status: "failed", outcome: "failed", reason: text, result: jobReport("unit", "failed", { failures }) }
            : { kind: "finished", status: "errored", outcome: "infrastructure", reason: text },
        );
        const sentBefore = github.requests.length;
        await publisher.publishJob((await store.jobs.job(jobId))!);
        const sent = github.requests.slice(sentBefore).filter((r) => r.operationId === "checks/create" || r.operationId === "checks/update");
        expect(sent).toHaveLength(1);
        const output = sent[0]!.body.output as { summary: string };
        expect(Buffer.byteLength(output.summary)).toBeLessThanOrEqual(SUMMARY_LIMIT);
        const run = github.state.checkRuns.get((await store.jobs.job(jobId))!.checkRunId!)!;
        expect(run).toMatchObject({ status: "completed", conclusion: "failure" });
        expect(github.rejected).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});
