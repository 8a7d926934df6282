import { describe, expect, it } from "@jest/globals";
import { app, deliver, example, github, useAppUnderTest } from "./app-under-test.js";
import { until, untilSettled } from "../../helpers/until.js";

/** Dispatches against GitHub's failures: no run details (GHES), 502 and 429 answers, an answer lost after the run started. */

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  it("finds the run by its run-name, GHES answering the dispatch without run details", async () => {
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    const job = JSON.parse(sent.inputs.job!) as { id: string };
    await until(async () => (await app.store.jobs.job(job.id))?.runId === String(sent.runId), "the run id found by run-name");
    expect(github.requests.some((r) => r.operationId === "actions/list-workflow-runs")).toBe(true);
    expect(github.rejected).toEqual([]);
  });

  it("retries a dispatch GitHub answers with 502 and 429, and sends it once", async () => {
    github.state.dispatchFailures.push(502, 429);
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the dispatch to get through");
    const health = (await (await fetch(`${app.url}/kto/health`)).json()) as { github: string; ready: boolean };
    expect(health).toMatchObject({ github: "ok", ready: true });
    const metrics = await (await fetch(`${app.url}/kto/metrics`)).text();
    // The 502 failed; the 429 asked kto to wait, and so did looking for a run the 502 may have started: no failures.
    expect(metrics).toMatch(/^kto_outbox_delivery_failures_total 1$/m);
    expect(metrics).toMatch(/^kto_outbox_deferrals_total [1-9]\d*$/m);
    expect(metrics).toMatch(/^kto_jobs\{state="dispatched"\} 1$/m);
    // The job's wait in the queue was observed once, as it was dispatched: a histogram with its count and sum.
    expect(metrics).toMatch(/^# TYPE kto_queue_wait_seconds histogram$/m);
    expect(metrics).toMatch(/^kto_queue_wait_seconds_count 1$/m);
    expect(metrics).toMatch(/^kto_queue_wait_seconds_bucket\{le="\+Inf"\} 1$/m);
    expect(metrics).toMatch(/^kto_startup_seconds_count 0$/m);
    const calls = github.requests.filter((r) => r.operationId === "actions/create-workflow-dispatch");
    expect(calls).toHaveLength(3);
    await untilSettled({ app, github });
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("a dispatch that started its run but answered 502 is not sent again: the retry finds the run by its run-name", async () => {
    github.state.dispatchLostResponses.push(502);
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    const jobId = (JSON.parse(sent.inputs.job!) as { id: string }).id;
    await until(async () => (await app.store.jobs.job(jobId))?.runId === String(sent.runId), "the run id found and stored");
    expect(github.requests.filter((r) => r.operationId === "actions/list-workflow-runs").length).toBeGreaterThanOrEqual(1);
    await untilSettled({ app, github });
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });
});
