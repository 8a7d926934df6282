import { describe, expect, it } from "@jest/globals";
import { app, checkRuns, deliver, example, expectStatusMatchesStore, github, REPO, report, SHA, token, useAppUnderTest } from "./app-under-test.js";
import { until } from "../../helpers/until.js";

/** Runs asked for by repository_dispatch and workflow_dispatch, and a job re-run from its check run's button. */

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  it("runs chosen suites on a repository_dispatch, and re-runs a finished job from its check run's button", async () => {
    const dispatch = example("repository_dispatch", "on-demand-test", 0) as {
      action: string;
      client_payload: unknown;
      repository: { full_name: string; name: string; owner: { login: string }; default_branch: string };
      installation: { id: number };
    };
    dispatch.action = "kto-run";
    dispatch.client_payload = { ref: "master", suites: ["unit"], priority: 4 };
    dispatch.repository.full_name = REPO;
    dispatch.repository.name = "Hello-World";
    dispatch.repository.owner.login = "Codertocat";
    github.state.refs.set(`${REPO}@master`, SHA);
    expect(await deliver("repository_dispatch", dispatch)).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    expect(JSON.parse(sent.inputs.job!)).toMatchObject({ spec: { suite: "unit", priority: 4 } });
    expect(checkRuns().map((c) => c.name)).toEqual(["kto / unit"]);

    const run = checkRuns()[0]!;
    const action = example("check_run", "requested_action", 0) as {
      check_run: Record<string, unknown>;
      requested_action?: unknown;
      repository: Record<string, unknown> & { owner: Record<string, unknown> };
      installation?: unknown;
    };
    action.check_run = { ...action.check_run, id: run.id, external_id: run.external_id, name: run.name, head_sha: SHA };
    action.requested_action = { identifier: "rerun" };
    action.repository = { ...action.repository, full_name: REPO, name: "Hello-World", owner: { ...action.repository.owner, login: "Codertocat" } };
    action.installation = { id: dispatch.installation.id };
    // GitHub shows the button on a completed check run only.
    const job = JSON.parse(sent.inputs.job!) as { id: string };
    const bearer = await token({ repository: REPO, run_id: String(sent.runId) });
    await until(async () => (await app.store.jobs.job(job.id))?.runId === String(sent.runId), "the run id");
    expect((await report(job.id, bearer, { attempt: 1, kind: "finished", status: "failed", reason: "1 test failed" })).status).toBe(200);
    await until(async () => run.conclusion === "failure", "the check run failed");
    expect(run).toMatchObject({ actions: [{ identifier: "rerun" }] });
    expect(await deliver("check_run", action)).toBe(200);
    const again = await until(async () => github.state.dispatches[1], "the re-run dispatched");
    expect(JSON.parse(again.inputs.job!)).toMatchObject({ spec: { suite: "unit" } });
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("plans on a workflow_dispatch of the Run kto workflow, ignores kto's own runner dispatches, and refuses malformed inputs", async () => {
    const base = example("workflow_dispatch", "", 0) as Record<string, unknown> & { repository: Record<string, unknown> & { owner: Record<string, unknown> } };
    const dispatchOf = (workflow: string, inputs: Record<string, string>) => ({
      ...structuredClone(base),
      workflow,
      ref: "refs/heads/master",
      inputs,
      repository: { ...base.repository, full_name: REPO, name: "Hello-World", owner: { ...base.repository.owner, login: "Codertocat" } },
      installation: { id: 1 },
    });
    github.state.refs.set(`${REPO}@master`, SHA);

    expect(await deliver("workflow_dispatch", dispatchOf(".github/workflows/kto-runner.yml", { job: "{}" }))).toBe(200);
    expect(await deliver("workflow_dispatch", dispatchOf(".github/workflows/kto-run.yml", { suites: "unit", priority: "soon" }))).toBe(200);
    expect(Object.values(await app.store.jobs.countsByState()).every((n) => n === 0)).toBe(true);
    expect(checkRuns()).toEqual([]);

    expect(await deliver("workflow_dispatch", dispatchOf(".github/workflows/kto-run.yml", { suites: "unit", priority: "urgent", ref: "" }))).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    expect(JSON.parse(sent.inputs.job!)).toMatchObject({ spec: { suite: "unit", priority: 4 } });
    expect(sent.inputs.sha).toBe(SHA);
    expect(checkRuns().map((c) => c.name)).toEqual(["kto / unit"]);
    expect(github.rejected).toEqual([]);
  });
});
