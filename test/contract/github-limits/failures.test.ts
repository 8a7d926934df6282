import { afterEach, describe, expect, it } from "@jest/globals";
import { APP_BOT, shownCheckRun, type GitHubState } from "../../helpers/github-api-double.js";
import { Harness, shaOf } from "./harness.js";
import { until, untilSettled } from "../../helpers/until.js";

/** GitHub's failures kto outlives: a read that failed, a delivery that failed and is redelivered, a dispatch whose answer was lost; and a plan waiting for approval kept to one check run, and one more when it is approved. */

describe("kto's webhooks survive GitHub's failures", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("retries a read that failed: one 502 reading the config does not lose the run", async () => {
    h = await Harness.start();
    h.github.state.failures.set("repos/get-content", [502]);
    expect(await h.deliver("pull_request", h.pullRequest(1, shaOf(1)))).toBe(200);
    await until(() => h.checkRuns(shaOf(1)).length === 2, "the pull request's check runs");
  });

  it("handles a redelivery of a delivery that failed, and only once one that got through", async () => {
    h = await Harness.start();
    h.github.state.failures.set("repos/get-content", Array<number>(10).fill(502));
    const payload = h.pullRequest(1, shaOf(1));
    expect(await h.deliver("pull_request", payload, "delivery-1")).toBeGreaterThanOrEqual(500);
    expect(await h.app.store.plans.planIds()).toEqual([]);
    h.github.state.failures.delete("repos/get-content");
    // Redelivered from the App's settings, with the same delivery id.
    expect(await h.deliver("pull_request", payload, "delivery-1")).toBe(200);
    expect(await h.app.store.plans.planIds()).toHaveLength(1);
    expect(await h.deliver("pull_request", payload, "delivery-1")).toBe(200);
    expect(await h.app.store.plans.planIds()).toHaveLength(1);
  });
});

describe("kto finds the run a lost dispatch answer started, and only its own", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  /** Starts a run of the runner workflow as someone else, or as the App for another job. */
  function otherRun(like: GitHubState["dispatches"][number], job: string, actor: string, createdAt: number): void {
    // Its run-name is its own job's, as the App names a run after the job that leads it.
    h.github.state.dispatches.push({
      ...like,
      inputs: { job: JSON.stringify({ id: job, attempt: 1 }) },
      runName: `kto ${job} attempt 1`,
      runId: h.github.state.nextId++,
      actor,
      createdAt,
    });
  }

  async function dispatchedOnce(): Promise<{ jobId: string; runId: number }> {
    const jobs = await until(async () => {
      const all = await h.app.store.jobs.list();
      return all.length === 2 && all.every((j) => j.state === "dispatched" && j.runId && /^\d+$/.test(j.runId)) && all;
    }, "both jobs bound to their runs");
    // Dispatched once each, with nothing left that could dispatch them again.
    await untilSettled(h);
    const attempts = h.github.state.dispatches.filter((d) => d.inputs.runs_on).map((d) => JSON.parse(d.inputs.job!) as { id: string; attempt: number });
    expect(attempts.map((a) => `${a.id}#${a.attempt}`).sort()).toEqual(jobs.map((j) => `${j.id}#1`).sort());
    const first = h.github.state.dispatches.find((d) => d.inputs.runs_on)!;
    return { jobId: (JSON.parse(first.inputs.job!) as { id: string }).id, runId: first.runId };
  }

  it("pages through the runs listed after it", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = (d) => {
      if (once) return;
      once = true;
      for (let i = 0; i < 120; i++) otherRun(d, `Codertocat/Hello-World@other/${i}`, APP_BOT, Date.now() + 3_600_000);
    };
    await openPullRequest(h);
    const { jobId, runId } = await dispatchedOnce();
    expect((await h.app.store.jobs.job(jobId))?.runId).toBe(String(runId));
  });

  it("looks again while GitHub does not list the run yet, rather than dispatching again", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = (d) => {
      if (once) return;
      once = true;
      d.unlistedFor = 3;
    };
    await openPullRequest(h);
    await dispatchedOnce();
  });

  it("does not dispatch again when the lookup after a dispatch that went through is answered with a rate limit", async () => {
    h = await Harness.start();
    let once = false;
    h.github.state.onDispatch = () => {
      if (once) return;
      once = true;
      h.github.state.failures.set("actions/list-workflow-runs", [429]);
    };
    await openPullRequest(h);
    await until(async () => (await h.app.store.jobs.list()).filter((j) => j.state === "dispatched").length === 2, "both jobs dispatched");
    await untilSettled(h);
    expect(h.github.state.failures.get("actions/list-workflow-runs")).toEqual([]);
    const attempts = h.github.state.dispatches.map((d) => JSON.parse(d.inputs.job!) as { id: string; attempt: number }).map((j) => `${j.id}#${j.attempt}`);
    expect(attempts).toHaveLength(2);
    expect(new Set(attempts).size).toBe(2);
  });

  it("keeps looking for the run a lost answer may have started while the lookups fail, rather than failing the job into a second run", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = () => {
      if (once) return;
      once = true;
      // A 404 would make any other effect give up at once: here the run is there, and is found.
      h.github.state.failures.set("actions/list-workflow-runs", [404, 502, 404]);
    };
    await openPullRequest(h);
    await dispatchedOnce();
    expect(h.github.state.failures.get("actions/list-workflow-runs")).toEqual([]);
  });

  it("takes the App's run, not a later one someone else started with the same run-name", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = (d) => {
      if (once) return;
      once = true;
      otherRun(d, (JSON.parse(d.inputs.job!) as { id: string }).id, "mallory", Date.now() + 1_000);
    };
    await openPullRequest(h);
    const { jobId, runId } = await dispatchedOnce();
    expect((await h.app.store.jobs.job(jobId))?.runId).toBe(String(runId));
  });
});

describe("a plan waiting for approval", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("is one check run listing its jobs; approved, each job gets a check run of its own and a newer approval check run says so", async () => {
    h = await Harness.start();
    const pr = h.pullRequest(1, shaOf(1), { fork: true });
    expect(await h.deliver("pull_request", pr)).toBe(200);
    const approval = await until(() => h.checkRuns().find((c) => c.name === "kto / approval"), "the approval check run");
    await untilSettled(h);
    expect(h.checkRuns()).toHaveLength(1);
    expect(approval).toMatchObject({ status: "completed", conclusion: "action_required", head_sha: shaOf(1) });
    expect(approval.output.summary).toContain("`kto / unit`");
    expect(approval.output.summary).toContain("`kto / board`");
    const labeled = {
      ...structuredClone(pr),
      action: "labeled",
      label: { id: 1, name: "kto/ok-to-test", color: "00ff00", default: false, description: null, node_id: "x", url: "https://api.github.com/x" },
    };
    expect(await h.deliver("pull_request", labeled)).toBe(200);
    await until(() => h.checkRuns().filter((c) => c.name !== "kto / approval").length === 2, "a check run per approved job");
    // GitHub keeps the hold's conclusion; the commit shows the newest "kto / approval", its end.
    await until(() => shownCheckRun(h.github.state, shaOf(1), "kto / approval")?.conclusion === "success", "the approval check run approved");
    await untilSettled(h);
    expect(approval).toMatchObject({ conclusion: "action_required" });
    expect(h.checkRuns()).toHaveLength(4);
    expect(h.github.rejected).toEqual([]);
  });
});

async function openPullRequest(h: Harness): Promise<void> {
  expect(await h.deliver("pull_request", h.pullRequest(1, shaOf(1)))).toBe(200);
}
