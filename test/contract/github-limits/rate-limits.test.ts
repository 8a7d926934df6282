import { afterEach, describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { jobReport } from "../../helpers/job-report.js";
import { Harness, shaOf } from "./harness.js";
import { until } from "../../helpers/until.js";
import { jobsOfDispatch } from "../../helpers/github-api-double.js";

/** kto within GitHub's request budget, and under its primary and secondary rate limits. */

describe("kto within GitHub's budget", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("reads the config once per event, makes at most 4 writes per job, and lists no runners per job", async () => {
    h = await Harness.start();
    const events = 3;
    let listingsBefore = -1;
    for (let n = 1; n <= events; n++) {
      expect(await h.deliver("pull_request", h.pullRequest(n, shaOf(n)))).toBe(200);
      // The first event brings the repository's runners in; after that the pool lives on events.
      if (n === 1) {
        await until(() => h.github.state.dispatches.length > 0, "the first dispatch");
        listingsBefore = h.count("actions/list-self-hosted-runners-for-repo") + h.count("actions/list-self-hosted-runners-for-org");
      }
      for (;;) {
        await h.runDispatched({ webhooks: true });
        if (h.checkRuns(shaOf(n)).length === 2 && h.checkRuns(shaOf(n)).every((c) => c.status === "completed")) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const jobs = events * 2;
    const writes = h.count("checks/create") + h.count("checks/update") + h.count("actions/create-workflow-dispatch") + h.count("actions/cancel-workflow-run");
    // Three check-run writes a job and a dispatch a run, which a plan's jobs leased together share.
    expect(writes / jobs).toBeGreaterThanOrEqual(3.5);
    expect(writes / jobs).toBeLessThanOrEqual(4);
    expect({
      configReads: h.count("repos/get-content"),
      runnerListings: h.count("actions/list-self-hosted-runners-for-repo") + h.count("actions/list-self-hosted-runners-for-org"),
    }).toEqual({
      // One read of each head's config, and one of the base's policy for all three.
      configReads: events + 1,
      runnerListings: listingsBefore,
    });
    expect(h.github.rejected).toEqual([]);
  }, 60_000);
});

describe("kto under GitHub's rate limits", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  /** Until the injected limit has been answered and the outbox has put an effect off for it. */
  const untilHeldBack = () =>
    h.until(
      () => h.github.state.failures.get("checks/create")!.length === 0 && h.app.service.effectTotals().deferrals >= 1,
      "the limit answered and an effect held back",
      {
        stepMs: 0,
      },
    );

  async function opened(n = 1): Promise<number> {
    expect(await h.deliver("pull_request", h.pullRequest(n, shaOf(n)))).toBe(200);
    return h.github.requests.length;
  }

  it("after a secondary limit, sends nothing for the installation for at least 60 s, whatever retry-after says, then carries on", async () => {
    h = await Harness.start({ clock: new ManualClock(Date.now()) });
    h.github.state.failures.set("checks/create", [{ limit: "secondary", retryAfterS: 5 }]);
    await opened();
    // Requests already on their way when the answer came are GitHub's to count; none goes after it.
    await untilHeldBack();
    const refusedAt = h.github.requests.length;
    // A minute of polls, less a second: the queue dispatches, the outbox tries, nothing goes to GitHub.
    await h.pass(59_000);
    expect(h.installationRequests(refusedAt)).toEqual([]);
    expect(await h.health()).toMatchObject({ githubRateLimited: 1, ready: true });
    await h.until(() => h.checkRuns().length === 2 && h.github.state.dispatches.length === 2, "the check runs and dispatches after the pause", { stepMs: 500 });
    expect(h.github.rejected).toEqual([]);
  });

  it("after the primary limit, waits for x-ratelimit-reset", async () => {
    h = await Harness.start({ clock: new ManualClock(Date.now()) });
    h.github.state.failures.set("checks/create", [{ limit: "primary", status: 429, resetInS: 120 }]);
    await opened();
    await untilHeldBack();
    const refusedAt = h.github.requests.length;
    await h.pass(119_000);
    expect(h.installationRequests(refusedAt)).toEqual([]);
    await h.until(() => h.checkRuns().length === 2, "the check runs after the reset", { stepMs: 500 });
  });

  it("stops at the answer that leaves no requests, and never gets the primary limit's 403", async () => {
    const clock = new ManualClock(Date.now());
    // The base's and the head's config and the two runner listings use up the hour.
    h = await Harness.start({ clock, double: { limits: { perHour: 4 } } });
    await opened();
    await h.pass(10 * 60_000, 10_000);
    expect(h.installationRequests()).toEqual([
      "repos/get-content",
      "repos/get-content",
      // The organisation first: had its runners served the repository, the repository would not be listed.
      "actions/list-self-hosted-runners-for-org",
      "actions/list-self-hosted-runners-for-repo",
    ]);
    expect(h.github.limiter!.stats.limited.primary).toBe(0);
    await h.pass(60 * 60_000, 60_000);
    await h.until(() => h.checkRuns().length === 2, "the check runs in the next hour", { stepMs: 500 });
  });

  it("does not retry an answer that cannot change (a 4xx): the dispatch fails its attempt at once", async () => {
    h = await Harness.start();
    h.github.state.failures.set("actions/create-workflow-dispatch", [404]);
    await opened();
    const job = await until(async () => (await h.app.store.jobs.list()).find((j) => j.attempt === 2), "the attempt failed and the job queued again");
    const firstAttempt = h.github.requests.filter(
      (r) => r.operationId === "actions/create-workflow-dispatch" && jobsOfDispatch(r).some((sent) => sent.id === job.id),
    );
    expect(firstAttempt).toHaveLength(1);
  });

  it("never gives up a finished job's last check run update, and shows the backlog in /kto/health and the metrics", async () => {
    h = await Harness.start({ clock: new ManualClock(Date.now()), outbox: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 } });
    await opened();
    const dispatch = await h.until(() => h.github.state.dispatches[0], "a dispatch");
    const job = JSON.parse(dispatch.inputs.job!) as { id: string };
    expect(await h.report(job.id, dispatch.runId, { attempt: 1, kind: "started" })).toBe(200);
    await h.until(() => h.checkRuns().find((c) => c.external_id === job.id)?.status === "in_progress", "the job shown running");
    // GitHub fails more updates in a row than the outbox tries anything else.
    h.github.state.failures.set("checks/update", Array<number>(8).fill(502));
    expect(await h.report(job.id, dispatch.runId, { attempt: 1, kind: "finished", status: "succeeded", result: jobReport(job.id, "succeeded") })).toBe(200);
    await h.until(() => (h.github.state.failures.get("checks/update")?.length ?? 0) < 8, "the first update failed", { stepMs: 0 });
    h.clock!.advance(30_000);
    expect(await h.health()).toMatchObject({ finalCheckRunsPending: 1 });
    expect((await h.health()).finalCheckRunsOldestMs).toBeGreaterThanOrEqual(30_000);
    const metrics = await (await fetch(`${h.app.url}/kto/metrics`)).text();
    expect(metrics).toMatch(/^kto_final_check_runs_pending 1$/m);
    expect(Number(/^kto_final_check_runs_oldest_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(30);
    await h.until(() => h.checkRuns().find((c) => c.external_id === job.id)?.status === "completed", "the last update landed", { stepMs: 1_000 });
    expect(h.github.state.failures.get("checks/update")).toEqual([]);
    expect(await h.health()).toMatchObject({ finalCheckRunsPending: 0, finalCheckRunsOldestMs: null });
  });
});
