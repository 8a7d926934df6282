import { expect } from "@jest/globals";
import { jobReport } from "../../helpers/job-report.js";
import { until } from "../../helpers/until.js";
import { checkRuns, dispatchedJob, example, pushToMaster, REPO, report, suite, type CheckRun, type System } from "./system.js";

/**
 * The default branch the bisection contract tests bisect: COMMITS commits in a line, commit
 * 0 tested and passing, commit CULPRIT the one that broke `add`, each with its config.
 */

export const COMMITS = 12;
/** Commit i of the default branch. */
export const sha = (i: number) => `${(0xa0 + i).toString(16)}${"5".repeat(38)}`;
export const CULPRIT = 7;
export const LAST = COMMITS - 1;
export const CONFIG = `version: 1\nsuites:\n${suite("unit")}`;

export type BisectRun = CheckRun & { actions?: { identifier: string; label: string; description: string }[] };

/** The line of commits with `CONFIG` at each, or `configs`' own where it names one (null: no config there). */
export function commitGraph(s: System, configs: ReadonlyMap<number, string | null> = new Map()): void {
  for (let i = 0; i < COMMITS; i++) {
    s.github.state.commits.set(`${REPO}@${sha(i)}`, {
      parents: i === 0 ? [] : [sha(i - 1)],
      message: i === CULPRIT ? "math: round add's result\n\nIt was off by one." : `commit ${i}`,
      author: `dev${i}`,
      date: `2026-12-01T00:${String(i).padStart(2, "0")}:00Z`,
    });
    const config = configs.has(i) ? configs.get(i)! : CONFIG;
    if (config !== null) s.github.state.files.set(`${REPO}@${sha(i)}:.github/kto.yml`, config);
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

/** The commit (its index) the job of dispatch `index` runs at. */
export async function dispatchedAt(s: System, index: number): Promise<{ id: string; at: number }> {
  const job = await until(async () => s.github.state.dispatches[index] && dispatchedJob(s, index), `dispatch ${index}`);
  const stored = await s.app.store.jobs.job(job.id);
  const plan = await s.app.store.plans.plan(stored!.planId);
  return { id: job.id, at: Array.from({ length: COMMITS }, (_, i) => sha(i)).indexOf(plan!.headSha!) };
}

/** Plays the runner of dispatch `index`: `add` fails at the culprit and after it; at `silent`, the run sends no results. Returns the commit it ran at. */
export async function runDispatch(s: System, index: number, silent = -1): Promise<number> {
  const { id, at } = await dispatchedAt(s, index);
  await report(s, id, { kind: "started" });
  await report(s, id, at === silent ? { kind: "finished", status: "failed", reason: "the kernel did not boot" } : finished(at < CULPRIT));
  return at;
}

/** A press of `run`'s button `identifier` by `login`, as GitHub delivers it. */
/**
 * The requested_action GitHub sends when `login` presses button `identifier` of `run`. Only a
 * button GitHub shows can be pressed: one the check run lists, once it has completed (the
 * REST description: "displayed after the check run completes"). `forged` sends it anyway, as
 * a replayed or hand-made delivery would.
 */
export function press(run: BisectRun, login: string, identifier = "bisect", forged = false): Record<string, unknown> {
  const shown = run.status === "completed" && (run.actions ?? []).some((a) => a.identifier === identifier);
  if (!shown && !forged) throw new Error(`GitHub shows no ${identifier} button on ${run.name} (${run.status}): nobody can press it`);
  const payload = example("check_run", "requested_action", 0) as {
    check_run: Record<string, unknown>;
    requested_action?: unknown;
    repository: Record<string, unknown> & { owner: Record<string, unknown> };
    sender: Record<string, unknown>;
  };
  payload.check_run = { ...payload.check_run, id: run.id, external_id: run.external_id, name: run.name, head_sha: run.head_sha };
  payload.requested_action = { identifier };
  payload.repository = { ...payload.repository, full_name: REPO, name: "Hello-World", owner: { ...payload.repository.owner, login: "Codertocat" } };
  payload.sender = { ...payload.sender, login };
  return { ...payload, installation: { id: 1 } };
}

export const bisectRuns = (s: System) => checkRuns(s).filter((c) => c.name === "kto / bisect") as BisectRun[];

/** The good commit pushed and run, then the last one with `add` failing: its regression's check run, which offers Bisect. */
export async function regression(s: System): Promise<BisectRun> {
  await pushToMaster(s, sha(0));
  expect(await runDispatch(s, 0)).toBe(0);
  await until(async () => checkRuns(s, sha(0)).find((c) => c.name === "kto / unit" && c.status === "completed"), "the good commit's check run");
  await pushToMaster(s, sha(LAST));
  await runDispatch(s, 1);
  return (await until(
    async () => checkRuns(s, sha(LAST)).find((c) => c.name === "kto / unit" && c.status === "completed"),
    "the regression's check run",
  )) as BisectRun;
}
