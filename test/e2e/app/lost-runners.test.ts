import { describe, expect, it } from "@jest/globals";
import type { GitHubApiDouble } from "../../helpers/github-api-double.js";
import { app, deliver, example, expectStatusMatchesStore, github, REPO, useAppUnderTest } from "./app-under-test.js";
import { until, untilSettled } from "../../helpers/until.js";

/** A runner lost mid-job: its job given back and dispatched to another runner, whether or not kto had found the job's run, and only for the run that ended. */

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  type Dispatch = GitHubApiDouble["state"]["dispatches"][number];

  /** rack-1 goes offline with `first` on it and rack-2 comes online; GitHub ends the run, naming the runner it lost. */
  async function loseRunnerOf(first: Dispatch): Promise<void> {
    github.state.runners.set(REPO, [
      {
        id: 7,
        name: "rack-1",
        os: "linux",
        status: "offline",
        busy: false,
        labels: [
          { id: 1, name: "x86_64", type: "custom" },
          { id: 2, name: "kto-runner-rack-1", type: "custom" },
        ],
      },
      {
        id: 8,
        name: "rack-2",
        os: "linux",
        status: "online",
        busy: false,
        labels: [
          { id: 1, name: "x86_64", type: "custom" },
          { id: 3, name: "kto-runner-rack-2", type: "custom" },
        ],
      },
    ]);
    await deliverRunEnded(first.runId, JSON.parse(first.inputs.runs_on!) as string[]);
  }

  /** GitHub's workflow_job event for run `runId`, which asked for `runsOn`, ending on rack-1 without a report. */
  async function deliverRunEnded(runId: number, runsOn: string[]): Promise<void> {
    const wj = example("workflow_job", "completed", 0) as {
      workflow_job: Record<string, unknown>;
      repository: Record<string, unknown>;
      installation?: unknown;
    };
    wj.workflow_job = {
      ...wj.workflow_job,
      run_id: runId,
      conclusion: "failure",
      labels: runsOn,
      runner_id: 7,
      runner_name: "rack-1",
    };
    wj.repository = (example("pull_request", "opened") as { repository: Record<string, unknown> }).repository;
    wj.installation = { id: 1 };
    expect(await deliver("workflow_job", wj)).toBe(200);
  }

  /** The job of `first` runs again, as its next attempt, on rack-2; the lost run is cancelled. */
  async function expectRedispatchedAway(first: Dispatch): Promise<void> {
    // The retry waits out the first attempt's backoff (5 s) before it is dispatched.
    const second = await until(async () => github.state.dispatches[1], "a dispatch to the other runner", 15_000);
    expect(JSON.parse(second.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-rack-2"]);
    expect(JSON.parse(second.inputs.job!)).toMatchObject({ id: JSON.parse(first.inputs.job!).id, attempt: 2 });
    expect(github.state.cancelled).toContain(first.runId);
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  }

  /** The unit job dispatched to rack-1, its run not found: GHES answers without the run's id, and does not list the run yet when kto looks right after. */
  async function dispatchNotFoundYet(): Promise<{ first: Dispatch; jobId: string }> {
    github.state.unlistedFor = 1;
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const first = await until(async () => github.state.dispatches[0], "the first dispatch");
    const jobId = (JSON.parse(first.inputs.job!) as { id: string }).id;
    await until(async () => github.requests.some((r) => r.operationId === "actions/list-workflow-runs"), "the lookup after the dispatch");
    await untilSettled({ app, github });
    expect(await app.store.jobs.job(jobId)).toMatchObject({ state: "dispatched", attempt: 1, runId: null });
    return { first, jobId };
  }

  it("gives a job back and dispatches it to another runner when its runner goes offline mid-job", async () => {
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const first = await until(async () => github.state.dispatches[0], "the first dispatch");
    const jobId = (JSON.parse(first.inputs.job!) as { id: string }).id;
    await until(async () => (await app.store.jobs.job(jobId))?.runId === String(first.runId), "the run id found by run-name");
    await loseRunnerOf(first);
    await expectRedispatchedAway(first);
  });

  it("gives a job back at once when GitHub ends its run before kto has found that run by its run-name", async () => {
    const { first, jobId } = await dispatchNotFoundYet();
    await loseRunnerOf(first);
    // At once: not when the attempt's lease (two minutes) runs out.
    expect(await app.store.jobs.job(jobId)).toMatchObject({
      state: "queued",
      attempt: 2,
      reason: expect.stringContaining("the workflow run ended (failure)"),
    });
    await expectRedispatchedAway(first);
  });

  it("leaves an attempt whose run kto has not found yet alone when another run on its runner ends", async () => {
    const { first, jobId } = await dispatchNotFoundYet();
    const lookups = () => github.requests.filter((r) => r.operationId === "actions/list-workflow-runs").length;
    const before = lookups();
    // A run kto's attempt was not dispatched as (an earlier attempt's, one someone else started) asked for the same runner.
    await deliverRunEnded(first.runId + 100, JSON.parse(first.inputs.runs_on!) as string[]);
    await untilSettled({ app, github });
    // kto looked the attempt's run up, and it was not that one.
    expect(lookups()).toBeGreaterThan(before);
    expect(await app.store.jobs.job(jobId)).toMatchObject({ state: "dispatched", attempt: 1, runId: null });
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.state.cancelled).toEqual([]);
    expect(github.rejected).toEqual([]);
  });
});
