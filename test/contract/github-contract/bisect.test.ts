import { describe, expect, it } from "@jest/globals";
import { jobReport } from "../../helpers/job-report.js";
import { until } from "../../helpers/until.js";
import { checkRuns, closeSystemAfterEach, deliver, dispatchedJob, example, REPO, report, start, suite, type CheckRun, type System } from "./system.js";

/**
 * A regression of the default branch bisected from its check run, end to end through the App
 * and the double: the Bisect button, who may press it, the steps as runs at older commits,
 * the `kto / bisect` check run naming the culprit, and a second press that starts nothing.
 */

closeSystemAfterEach();

const COMMITS = 12;
/** Commit i of the default branch; commit 0 was tested and passed, commit CULPRIT broke `add`. */
const sha = (i: number) => `${(0xa0 + i).toString(16)}${"5".repeat(38)}`;
const CULPRIT = 7;
const LAST = COMMITS - 1;
const CONFIG = `version: 1\nsuites:\n${suite("unit")}`;

type BisectRun = CheckRun & { actions?: { identifier: string; label: string; description: string }[] };

function commitGraph(s: System) {
  for (let i = 0; i < COMMITS; i++) {
    s.github.state.commits.set(`${REPO}@${sha(i)}`, {
      parents: i === 0 ? [] : [sha(i - 1)],
      message: i === CULPRIT ? "math: round add's result\n\nIt was off by one." : `commit ${i}`,
      author: `dev${i}`,
      date: `2026-12-01T00:${String(i).padStart(2, "0")}:00Z`,
    });
    s.github.state.files.set(`${REPO}@${sha(i)}:.github/kto.yml`, CONFIG);
  }
  s.github.state.refs.set(`${REPO}@master`, sha(0));
  s.github.state.permissions.set(REPO, new Map([["maintainer", "write"]]));
}

/** A finished report of "unit": `add` passing or failing, `sub` passing. */
function finished(addPasses: boolean): Record<string, unknown> {
  const cases = [
    { path: ["math"], name: "add", status: addPasses ? "passed" : "failed" },
    { path: ["math"], name: "sub", status: "passed" },
  ];
  const failures = addPasses
    ? []
    : [{ name: "add", path: ["math"], status: "failed", reason: "expected 4, got 3", location: { file: "lib/math.c", line: 50 } }];
  return {
    kind: "finished",
    status: addPasses ? "succeeded" : "failed",
    outcome: addPasses ? "passed" : "failed",
    reason: addPasses ? "all passed" : "1 test failed",
    result: jobReport("unit", addPasses ? "succeeded" : "failed", {
      failures,
      tests: { total: 2, passed: addPasses ? 2 : 1, failed: addPasses ? 0 : 1, errored: 0, skipped: 0 },
    }),
    cases,
  };
}

async function pushToMaster(s: System, commit: string) {
  const payload = example("push", "", 0) as {
    ref: string;
    after: string;
    deleted: boolean;
    repository: { default_branch: string };
    installation?: { id: number };
  };
  payload.ref = "refs/heads/master";
  payload.after = commit;
  payload.deleted = false;
  payload.repository.default_branch = "master";
  payload.installation = { id: 1 };
  expect(await deliver(s, "push", payload)).toBe(200);
}

/** Plays the runner of dispatch `index`: `add` fails at the culprit and after it; at `silent`, the run sends no results. Returns the commit it ran at. */
async function runDispatch(s: System, index: number, silent = -1): Promise<number> {
  const job = await until(async () => s.github.state.dispatches[index] && dispatchedJob(s, index), `dispatch ${index}`);
  const stored = await s.app.store.jobs.job(job.id);
  const plan = await s.app.store.plans.plan(stored!.planId);
  const at = Array.from({ length: COMMITS }, (_, i) => sha(i)).indexOf(plan!.headSha!);
  await report(s, job.id, { kind: "started" });
  await report(s, job.id, at === silent ? { kind: "finished", status: "failed", reason: "the kernel did not boot" } : finished(at < CULPRIT));
  return at;
}

function press(run: CheckRun, login: string): Record<string, unknown> {
  const payload = example("check_run", "requested_action", 0) as {
    check_run: Record<string, unknown>;
    requested_action?: unknown;
    repository: Record<string, unknown> & { owner: Record<string, unknown> };
    sender: Record<string, unknown>;
  };
  payload.check_run = { ...payload.check_run, id: run.id, external_id: run.external_id, name: run.name, head_sha: run.head_sha };
  payload.requested_action = { identifier: "bisect" };
  payload.repository = { ...payload.repository, full_name: REPO, name: "Hello-World", owner: { ...payload.repository.owner, login: "Codertocat" } };
  payload.sender = { ...payload.sender, login };
  return { ...payload, installation: { id: 1 } };
}

const bisectRuns = (s: System) => checkRuns(s).filter((c) => c.name === "kto / bisect");

// On github.com one step's run sends no results: that commit is skipped, and the culprit found all the same.
describe.each<["ghes" | "github.com", number]>([
  ["ghes", -1],
  ["github.com", CULPRIT + 1],
])("bisection from a check run (%s)", (server, silent) => {
  it("offers Bisect on a regression of the default branch, takes only a writer's press, names the first bad commit and bisects a range once", async () => {
    const s = await start({ server });
    commitGraph(s);
    await pushToMaster(s, sha(0));
    expect(await runDispatch(s, 0)).toBe(0);
    await until(async () => checkRuns(s, sha(0)).find((c) => c.name === "kto / unit" && c.status === "completed"), "the good commit's check run");

    await pushToMaster(s, sha(LAST));
    await runDispatch(s, 1);
    const regression = (await until(
      async () => checkRuns(s, sha(LAST)).find((c) => c.name === "kto / unit" && c.status === "completed"),
      "the regression's check run",
    )) as BisectRun;
    expect(regression.conclusion).toBe("failure");
    expect(regression.output.title).toMatch(/^1 regression/);
    expect(regression.actions?.map((a) => a.identifier)).toEqual(["rerun", "bisect"]);
    // The cost is said before anyone presses: 11 commits, ceil(log2 11) + 2 runs at most.
    expect(regression.output.summary).toContain("at most 6 runs of suite `unit`");

    // Someone who cannot write presses: nothing starts.
    expect(await deliver(s, "check_run", press(regression, "passerby"))).toBe(200);
    expect(bisectRuns(s)).toEqual([]);
    expect(s.github.state.dispatches).toHaveLength(2);

    expect(await deliver(s, "check_run", press(regression, "maintainer"))).toBe(200);
    const bisect = await until(async () => bisectRuns(s)[0], "the kto / bisect check run");
    expect(bisect.head_sha).toBe(sha(LAST));
    expect(bisect.status).toBe("in_progress");
    expect(bisect.output.title).toMatch(/^Testing [0-9a-f]{7}: step 1 of at most 6$/);

    const tested: number[] = [];
    for (let index = 2; bisectRuns(s)[0]!.status !== "completed"; index++) {
      tested.push(await runDispatch(s, index, silent));
      await until(async () => bisectRuns(s)[0]!.status === "completed" || s.github.state.dispatches[index + 1], `step ${index - 1} judged`);
      expect(tested.length).toBeLessThanOrEqual(6);
    }
    const done = bisectRuns(s)[0]!;
    expect(done.conclusion).toBe("neutral");
    expect(done.output.title).toBe(`First bad commit: ${sha(CULPRIT).slice(0, 7)} math: round add's result`);
    expect(done.output.summary).toContain(`/${REPO}/commit/${sha(CULPRIT)})`);
    expect(done.output.summary).toContain(`by dev${CULPRIT}`);
    expect(done.output.summary).toContain(tested.includes(silent) ? "Confidence: medium: 1 commit could not be judged" : "Confidence: high");
    if (server === "github.com") expect(tested).toContain(silent);
    expect(done.output.summary).toContain(`Found in ${tested.length} steps`);
    // Each step at the lowest priority.
    for (let index = 2; index < s.github.state.dispatches.length; index++)
      expect(JSON.parse(s.github.state.dispatches[index]!.inputs.job!)).toMatchObject({ spec: { priority: 1 } });

    // A second press of the same regression starts nothing more.
    const dispatched = s.github.state.dispatches.length;
    expect(await deliver(s, "check_run", press(regression, "maintainer"))).toBe(200);
    expect(bisectRuns(s)).toHaveLength(1);
    expect(s.github.state.dispatches).toHaveLength(dispatched);
    expect(s.github.rejected).toEqual([]);
  });
});
