import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { runTimeoutMinutes } from "../../../src/config/limits.js";
import { GitHubDispatcher, type GitHubDispatcherOptions } from "../../../src/app/github/github-dispatcher.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { DispatchRefusedError, type DispatchRequest } from "../../../src/orchestrator/dispatcher.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { DeferredError } from "../../../src/orchestrator/outbox-worker.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { APP_BOT, startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { installationOctokits } from "../../helpers/installation-octokits.js";
import { job } from "../../helpers/job.js";
import { storeJob } from "../../helpers/orchestrator.js";
import { freshStore, submitPlan } from "../../helpers/stores.js";

/**
 * GitHubDispatcher on its own, against the GitHub API double: a job's attempt started as a
 * run of the runner workflow on its one runner, the run found by its run-name where GitHub
 * answers without it, and a dispatch whose answer was lost not sent twice, on the
 * orchestrator's clock.
 */

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const ENV = `github:${REPO}:7`;
const LOOKUP = { lookupWindowMs: 15_000, lookupDelayMs: 3_000 };

describe("GitHubDispatcher", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  let clock: ManualClock;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    ({ store, dispose } = await freshStore("sqlite"));
    // The double stamps runs with the system's time: the orchestrator's clock starts there.
    clock = new ManualClock(Date.now());
    await store.runners.upsertRunners([
      {
        id: ENV,
        pool: "github",
        labels: ["self-hosted", "x86_64", "kto-runner-rack-1"],
        capacity: 1,
        state: "online",
        lastSeen: clock.now(),
        scope: UNRESTRICTED,
      },
    ]);
  });

  afterEach(async () => {
    await dispose();
    await github.close();
  });

  function dispatcher(server: "ghes" | "github.com", options: Partial<GitHubDispatcherOptions> = {}): GitHubDispatcher {
    return new GitHubDispatcher(store, installationOctokits(github, server), {
      workflow: "kto-runner.yml",
      appUrl: "https://kto.example.com",
      runDetails: server === "github.com",
      maxInputs: server === "github.com" ? 25 : 10,
      batchJobs: 256,
      botLogin: async () => APP_BOT,
      ...LOOKUP,
      now: () => clock.now(),
      ...options,
    });
  }

  /** The unit job of a plan, leased to rack-1: what the outbox hands the dispatcher. */
  async function leased(command = "true"): Promise<DispatchRequest> {
    await submitPlan(store, {
      id: "p",
      source: ".github/kto.yml",
      workspace: REPO,
      repo: REPO,
      installationId: 1,
      headSha: SHA,
      defaultRef: "master",
      approved: true,
      now: clock.now(),
      jobs: [{ ...storeJob("p/unit", ["x86_64"], 2, { name: "unit" }), spec: job({ id: "unit", labels: ["x86_64"], command }) }],
    });
    const dispatched = await new JobLifecycle(store, clock).dispatch((await store.jobs.job("p/unit"))!, ENV);
    return { key: "dispatch:p/unit#1", entries: [{ job: dispatched!, runnerId: ENV }], sentAt: null };
  }

  const count = (operationId: string) => github.requests.filter((r) => r.operationId === operationId).length;

  it("on github.com starts the attempt as a run of the runner workflow bound to its one runner, and takes the run id from the answer", async () => {
    const request = await leased();
    const { runId } = await dispatcher("github.com").dispatch(request);
    const [sent] = github.state.dispatches;
    expect(runId).toBe(String(sent!.runId));
    expect(sent).toMatchObject({ repo: REPO, workflow: "kto-runner.yml", ref: "master" });
    const job = {
      id: "p/unit",
      attempt: 1,
      spec: request.entries[0]!.job.spec,
      timeoutMinutes: runTimeoutMinutes(request.entries[0]!.job.spec.timeoutMs),
      trusted: true,
    };
    // One run, named after its first job, whose matrix holds the job on its runner.
    expect(github.requests.find((r) => r.operationId === "actions/create-workflow-dispatch")!.body.inputs).toEqual({
      run_name: "kto p/unit attempt 1",
      jobs: JSON.stringify([{ name: "unit", job, runs_on: ["self-hosted", "kto-runner-rack-1"] }]),
      sha: SHA,
      app_url: "https://kto.example.com",
    });
    // What the job of that run is given, as GitHub evaluates the shipped workflow.
    expect(sent!.runName).toBe("kto p/unit attempt 1");
    expect(JSON.parse(sent!.inputs.job!)).toEqual(job);
    expect(sent!.inputs).toMatchObject({ runs_on: JSON.stringify(["self-hosted", "kto-runner-rack-1"]), sha: SHA, app_url: "https://kto.example.com" });
    expect(github.requests.find((r) => r.operationId === "actions/create-workflow-dispatch")!.body.return_run_details).toBe(true);
    expect(count("actions/list-workflow-runs")).toBe(0);
    expect(github.rejected).toEqual([]);
  });

  it("on GitHub Enterprise Server, answered without run details, finds the run by its run-name", async () => {
    const request = await leased();
    const { runId } = await dispatcher("ghes").dispatch(request);
    expect(runId).toBe(String(github.state.dispatches[0]!.runId));
    expect("return_run_details" in github.requests.find((r) => r.operationId === "actions/create-workflow-dispatch")!.body).toBe(false);
    expect(count("actions/list-workflow-runs")).toBe(1);
    expect(github.rejected).toEqual([]);
  });

  it("after a try whose answer was lost, takes the run that try started rather than dispatching again", async () => {
    const request = await leased();
    github.state.dispatchLostResponses.push(502);
    const sentAt = clock.now();
    await expect(dispatcher("github.com").dispatch(request)).rejects.toMatchObject({ status: 502 });
    clock.advance(1_000);
    const { runId } = await dispatcher("github.com").dispatch({ ...request, sentAt });
    expect(runId).toBe(String(github.state.dispatches[0]!.runId));
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("looks again while GitHub does not list the run a lost try may have started, and dispatches again once the window has passed", async () => {
    const request = await leased();
    github.state.dispatchLostResponses.push(502);
    github.state.unlistedFor = Number.MAX_SAFE_INTEGER;
    const sentAt = clock.now();
    await expect(dispatcher("github.com").dispatch(request)).rejects.toMatchObject({ status: 502 });
    clock.advance(LOOKUP.lookupWindowMs - 1);
    const early = await dispatcher("github.com")
      .dispatch({ ...request, sentAt })
      .catch((error: unknown) => error);
    expect(early).toBeInstanceOf(DeferredError);
    expect((early as DeferredError).retryAt).toBe(clock.now() + LOOKUP.lookupDelayMs);
    expect(github.state.dispatches).toHaveLength(1);
    clock.advance(1);
    await dispatcher("github.com").dispatch({ ...request, sentAt });
    expect(github.state.dispatches).toHaveLength(2);
    expect(github.rejected).toEqual([]);
  });

  it("takes a run of the attempt's run-name only when the App's bot started it", async () => {
    const request = await leased();
    github.state.dispatches.push({
      repo: REPO,
      workflow: "kto-runner.yml",
      ref: "master",
      inputs: { job: JSON.stringify({ id: "p/unit", attempt: 1 }) },
      runId: github.state.nextId++,
      actor: "mallory",
      createdAt: clock.now(),
    });
    const sentAt = clock.now();
    await expect(dispatcher("github.com").dispatch({ ...request, sentAt })).rejects.toBeInstanceOf(DeferredError);
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("refuses, sending nothing, a dispatch whose inputs GitHub would refuse: too long as JSON, or more inputs than the server takes", async () => {
    // Within a config's limits, but each quote is escaped twice over in the inputs.
    const long = await leased('"'.repeat(20_000));
    const refused = await dispatcher("github.com")
      .dispatch(long)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DispatchRefusedError);
    const chars = Number(/its workflow inputs come to (\d+) characters as JSON; GitHub takes at most 65,535\./.exec((refused as Error).message)?.[1]);
    expect(chars).toBeGreaterThan(65_535);
    await expect(dispatcher("ghes", { maxInputs: 3 }).dispatch(long)).rejects.toThrow(
      new DispatchRefusedError("kto cannot dispatch this job: the runner workflow takes 4 inputs and this GitHub at most 3"),
    );
    expect(count("actions/create-workflow-dispatch")).toBe(0);
  });

  it("cancels the attempt's run, found by its run-name when the dispatch gave no id; a run that already ended is nothing to cancel", async () => {
    const request = await leased();
    await dispatcher("ghes").dispatch(request);
    const runId = github.state.dispatches[0]!.runId;
    await dispatcher("ghes").cancel({ key: "cancel:p/unit#1", jobId: "p/unit", attempt: 1, runId: null, runnerId: ENV, batchKey: "p/unit#1" });
    expect(github.state.cancelled).toEqual([runId]);
    github.state.failures.set("actions/cancel-workflow-run", [409]);
    await dispatcher("ghes").cancel({ key: "cancel:p/unit#1", jobId: "p/unit", attempt: 1, runId: String(runId), runnerId: ENV, batchKey: "p/unit#1" });
    expect(github.rejected).toEqual([]);
  });

  it("leaves a batch's run going while another of its jobs is under way, and cancels it with the last", async () => {
    await submitPlan(store, {
      id: "p",
      source: ".github/kto.yml",
      workspace: REPO,
      repo: REPO,
      installationId: 1,
      headSha: SHA,
      defaultRef: "master",
      approved: true,
      now: clock.now(),
      jobs: [storeJob("p/a", ["x86_64"], 2), storeJob("p/b", ["x86_64"], 2)],
    });
    const together = { maxJobs: 2, maxChars: Infinity, entryChars: () => 0, groupOf: () => REPO };
    const lifecycle = new JobLifecycle(store, clock, undefined, false, undefined, together);
    const queued = await Promise.all(["p/a", "p/b"].map(async (id) => (await store.jobs.job(id))!));
    const [a, b] = await lifecycle.dispatchAll(queued.map((job) => ({ job, runnerId: ENV, runnerLabels: [] })));
    expect(a!.batchKey).toBe(b!.batchKey);
    for (const job of [a!, b!]) await store.jobs.setRunId(job.id, job.attempt, "4242");

    await lifecycle.cancel(a!, "cancelled by a writer");
    await dispatcher("github.com").cancel({ key: "cancel:p/a#1", jobId: "p/a", attempt: 1, runId: "4242", runnerId: ENV, batchKey: a!.batchKey });
    expect(github.state.cancelled).toEqual([]);
    await lifecycle.cancel((await store.jobs.job("p/b"))!, "cancelled by a writer");
    const sender = dispatcher("github.com");
    await sender.cancel({ key: "cancel:p/b#1", jobId: "p/b", attempt: 1, runId: "4242", runnerId: ENV, batchKey: b!.batchKey });
    expect(github.state.cancelled).toEqual([4242]);
    // Every job of the batch ended: the others' cancels are for a run already cancelled.
    await sender.cancel({ key: "cancel:p/a#1", jobId: "p/a", attempt: 1, runId: "4242", runnerId: ENV, batchKey: a!.batchKey });
    expect(count("actions/cancel-workflow-run")).toBe(1);
  });
  it("refuses, saying what to replace, a dispatch to a runner workflow copied from before runs took a matrix", async () => {
    const old = [
      "name: kto runner",
      "on:",
      "  workflow_dispatch:",
      "    inputs:",
      "      job: { required: true, type: string }",
      "      runs_on: { required: true, type: string }",
      "      sha: { required: true, type: string }",
      "      app_url: { required: true, type: string }",
      "jobs:",
      "  run:",
      "    runs-on: ${{ fromJSON(inputs.runs_on) }}",
      "    steps:",
      "      - run: true",
      "",
    ].join("\n");
    github.state.files.set(`${REPO}@master:.github/workflows/kto-runner.yml`, old);
    const request = await leased();
    await expect(dispatcher("github.com").dispatch(request)).rejects.toThrow(
      new DispatchRefusedError(
        `kto cannot dispatch this job: .github/workflows/kto-runner.yml at master does not take the inputs this kto sends (GitHub: Unexpected inputs provided: ["run_name","jobs"]); replace it with self-hosted/kto-runner.yml of this kto's version`,
      ),
    );
  });

  it("judges a late cancel of an old attempt by that attempt's batch, not the one the job is in now", async () => {
    await submitPlan(store, {
      id: "p",
      source: ".github/kto.yml",
      workspace: REPO,
      repo: REPO,
      installationId: 1,
      headSha: SHA,
      defaultRef: "master",
      approved: true,
      now: clock.now(),
      jobs: [storeJob("p/a", ["x86_64"], 2), storeJob("p/b", ["x86_64"], 2)],
    });
    const together = { maxJobs: 2, maxChars: Infinity, entryChars: () => 0, groupOf: () => REPO };
    const lifecycle = new JobLifecycle(store, clock, undefined, false, undefined, together);
    const queued = await Promise.all(["p/a", "p/b"].map(async (id) => (await store.jobs.job(id))!));
    const [a] = await lifecycle.dispatchAll(queued.map((job) => ({ job, runnerId: ENV, runnerLabels: [] })));
    for (const id of ["p/a", "p/b"]) await store.jobs.setRunId(id, 1, "4242");
    // a's runner fails it; its retry goes out alone, in a batch of its own, before a's cancel does.
    await lifecycle.infrastructureFailure((await store.jobs.job("p/a"))!, "the runner went away");
    clock.advance(60_000);
    const [retried] = await lifecycle.dispatchAll([{ job: (await store.jobs.job("p/a"))!, runnerId: ENV, runnerLabels: [] }]);
    expect(retried!.batchKey).not.toBe(a!.batchKey);
    await dispatcher("github.com").cancel({ key: "cancel:p/a#1", jobId: "p/a", attempt: 1, runId: "4242", runnerId: ENV, batchKey: a!.batchKey });
    // b still runs in the first run.
    expect(github.state.cancelled).toEqual([]);
  });

  it("starts a pass's jobs of one plan as one run, each a job of its matrix on the runner it was leased, and names the run after the first", async () => {
    await store.runners.upsertRunners([
      {
        id: `github:${REPO}:8`,
        pool: "github",
        labels: ["self-hosted", "x86_64", "kto-runner-rack-2"],
        capacity: 1,
        state: "online",
        lastSeen: clock.now(),
        scope: UNRESTRICTED,
      },
    ]);
    await submitPlan(store, {
      id: "p",
      source: ".github/kto.yml",
      workspace: REPO,
      repo: REPO,
      installationId: 1,
      headSha: SHA,
      defaultRef: "master",
      approved: true,
      now: clock.now(),
      jobs: [storeJob("p/a", ["x86_64"], 2), storeJob("p/b", ["x86_64"], 2)],
    });
    const lifecycle = new JobLifecycle(store, clock, undefined, false, undefined, dispatcher("github.com").batching);
    const queued = await Promise.all(["p/a", "p/b"].map(async (id) => (await store.jobs.job(id))!));
    const [a, b] = await lifecycle.dispatchAll([
      { job: queued[0]!, runnerId: ENV, runnerLabels: ["self-hosted", "x86_64", "kto-runner-rack-1"] },
      { job: queued[1]!, runnerId: `github:${REPO}:8`, runnerLabels: ["self-hosted", "x86_64", "kto-runner-rack-2"] },
    ]);
    expect(b!.batchKey).toBe(a!.batchKey);
    const { runId } = await dispatcher("github.com").dispatch({
      key: "dispatch:p/a#1",
      entries: [
        { job: a!, runnerId: ENV },
        { job: b!, runnerId: `github:${REPO}:8` },
      ],
      sentAt: null,
    });
    expect(count("actions/create-workflow-dispatch")).toBe(1);
    expect(github.state.dispatches.map((d) => [String(d.runId), d.runName, JSON.parse(d.inputs.job!).id, JSON.parse(d.inputs.runs_on!)])).toEqual([
      [runId, "kto p/a attempt 1", "p/a", ["self-hosted", "kto-runner-rack-1"]],
      [runId, "kto p/a attempt 1", "p/b", ["self-hosted", "kto-runner-rack-2"]],
    ]);
    // Either job finds the run by the batch's name, as a report from the second does on GHES.
    expect(await dispatcher("github.com").findRun(b!, (await store.plans.plan("p"))!)).toBe(runId);
    expect(github.rejected).toEqual([]);
  });

  it("batches by plan, at most 256 jobs or what the inputs hold, a build's handoff allowed for", () => {
    const { batching } = dispatcher("github.com", { batchJobs: 1_000 });
    expect(batching.maxJobs).toBe(256);
    expect(dispatcher("github.com", { batchJobs: 1 }).batching.maxJobs).toBe(1);
    expect(batching.maxChars).toBe(65_535 - 2_048 - "https://kto.example.com".length);
    const plan = { id: "p", trusted: true } as Parameters<typeof batching.groupOf>[0];
    expect(batching.groupOf(plan)).toBe("p");
    const lease = { job: { id: "p/a", attempt: 1, spec: job({ id: "a" }), needsJobId: null }, runnerId: ENV, runnerLabels: ["kto-runner-rack-1"] } as never;
    const booting = {
      job: { id: "p/a", attempt: 1, spec: job({ id: "a" }), needsJobId: "p/build" },
      runnerId: ENV,
      runnerLabels: ["kto-runner-rack-1"],
    } as never;
    expect(batching.entryChars(booting, plan) - batching.entryChars(lease, plan)).toBe(4_096);
  });
});
