import { describe, expect, it } from "@jest/globals";
import {
  app,
  checkRuns,
  deliver,
  example,
  expectForgedReportsRefused,
  expectStatusMatchesStore,
  github,
  publicUrl,
  REPO,
  report,
  SHA,
  CONFIG,
  token,
  unitResult,
  useAppUnderTest,
} from "./app-under-test.js";
import { until } from "../../helpers/until.js";

/** A pull request end to end: its plan, its check runs, its dispatch to the matching runner, its run's reports, and a push that replaces it. */

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  it("turns a pull request into queued check runs, dispatches to the matching runner, and completes from OIDC-authenticated reports", async () => {
    const pr = example("pull_request", "opened");
    expect(await deliver("pull_request", pr, "delivery-1")).toBe(200);
    await until(async () => checkRuns().length === 2, "two check runs");
    await expectStatusMatchesStore();
    const dispatch = await until(async () => github.state.dispatches[0], "a workflow dispatch");
    expect(dispatch).toMatchObject({ repo: REPO, workflow: "kto-runner.yml", ref: "master" });
    expect(JSON.parse(dispatch.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-rack-1"]);
    const sent = JSON.parse(dispatch.inputs.job!) as { id: string; attempt: number; spec: { suite: string; timeoutMs: number } };
    expect(sent).toMatchObject({ attempt: 1, spec: { suite: "unit" } });
    // GitHub gives the run the job's own timeout and the run's overhead, never GitHub's 5 days.
    expect(dispatch.timeoutMinutes).toBe(Math.ceil(sent.spec.timeoutMs / 60_000) + 30);
    expect(dispatch.inputs).toMatchObject({ sha: SHA, app_url: publicUrl });
    const board = checkRuns().find((c) => c.name === "kto / board")!;
    await until(async () => board.output.title.startsWith("Queued"), "the board job's queue position");
    expect(board.output.summary).toContain("arm64");

    // A redelivered webhook changes nothing.
    expect(await deliver("pull_request", pr, "delivery-1")).toBe(200);
    expect(checkRuns()).toHaveLength(2);

    const good = await token({ repository: REPO, run_id: String(dispatch.runId) });
    expect((await report(sent.id, good, { attempt: 1, kind: "started" })).status).toBe(200);
    // While the job runs, the App's answer lets its runner go on; once it has ended, it tells the runner to stop.
    expect(await (await report(sent.id, good, { attempt: 1, kind: "heartbeat" })).json()).toMatchObject({ state: "running", stop: false });
    const unit = checkRuns().find((c) => c.name === "kto / unit")!;
    await until(async () => unit.status === "in_progress", "in_progress");
    expect(unit.details_url).toBe(`http://${new URL(github.url).host}/${REPO}/actions/runs/${dispatch.runId}`);
    await expectStatusMatchesStore();

    await expectForgedReportsRefused(sent.id, String(dispatch.runId));

    const result = unitResult();
    // A result the check run cannot be built from is refused, naming the field, and changes nothing.
    const partial = await report(sent.id, good, { attempt: 1, kind: "finished", status: "failed", result: { ...result, tests: { passed: "1" } } });
    expect(partial.status).toBe(400);
    expect(((await partial.json()) as { message: string }).message).toContain("result.tests.passed: Expected number, received string");
    expect((await app.store.jobs.job(sent.id))?.state).toBe("running");
    expect(
      (await report(sent.id, good, { attempt: 1, kind: "finished", status: "failed", outcome: "failed", reason: "1 of 2 tests did not pass", result })).status,
    ).toBe(200);
    await until(async () => unit.status === "completed", "completed");
    expect(unit).toMatchObject({ conclusion: "failure", output: { title: "1 passed, 1 failed, 0 errored, 0 skipped" } });
    expect(unit.output.summary).toContain("[Download the logs and results](https://github.com/o/r/actions/runs/1/artifacts/9)");
    expect(unit.output.annotations).toEqual([
      { path: "lib/math.c", start_line: 12, end_line: 12, annotation_level: "failure", title: "math › adds", message: "expected 4, got 3" },
    ]);
    // Replaying the finished report changes nothing.
    const replay = await report(sent.id, good, { attempt: 1, kind: "finished", status: "succeeded" });
    expect(await replay.json()).toMatchObject({ applied: false, state: "failed", stop: true });
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("cancels the older plan when a new push arrives, and runs the new commit", async () => {
    const opened = example("pull_request", "opened");
    expect(await deliver("pull_request", opened)).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the first dispatch");
    const next = "1111111111111111111111111111111111111111";
    github.state.files.set(`${REPO}@${next}:.github/kto.yml`, CONFIG);
    const pushed = structuredClone(opened) as { action: string; pull_request: { head: { sha: string } }; before?: string; after?: string };
    pushed.action = "synchronize";
    pushed.pull_request.head.sha = next;
    pushed.before = SHA;
    pushed.after = next;
    expect(await deliver("pull_request", pushed)).toBe(200);
    await until(async () => checkRuns().filter((c) => c.conclusion === "cancelled").length === 2, "the old plan's check runs cancelled");
    expect(github.state.cancelled).toEqual([github.state.dispatches[0]!.runId]);
    const second = await until(async () => github.state.dispatches[1], "the new commit dispatched");
    expect(second.inputs.sha).toBe(next);
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });
});
