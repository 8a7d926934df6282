import { describe, expect, it } from "@jest/globals";
import { classifiedView, pullData } from "../../src/app/http/dashboard-history.js";
import type { BaseCommits } from "../../src/app/history/commit-ancestry.js";
import { ResultJudge, type Judgement } from "../../src/app/history/result-judge.js";
import { KnownIssues } from "../../src/config/known-issues.js";
import type { JobReads, JobRecord, NewResultRun, PlanRecord, Store } from "../../src/orchestrator/store/store.js";
import { keyedCases } from "../../src/runners/history/results-set.js";
import { ENGINES, withStore } from "../helpers/stores.js";

/**
 * The pull request page against the check run's judgement: a branch commit newer than the
 * merge base, finished before the pull request's run, is what choosing by time would take;
 * the page takes what the judge took.
 */

const REPO = "o/r";
const sha = (c: string) => c.repeat(40);
const [OLDER, MERGE_BASE, NEWER, EMPTY_BASE, HEAD] = ["a", "b", "c", "d", "e"].map(sha) as [string, string, string, string, string];
const PUSHES = `push:${REPO}:master`;
const PULL = `pr:${REPO}#7`;

type Status = "passed" | "failed" | "skipped";

const run = (jobId: string, at: string, groupKey: string, finishedAt: number, statuses: Record<string, Status>): NewResultRun => ({
  repo: REPO,
  sha: at,
  jobKey: "unit",
  jobId,
  attempt: 1,
  planId: `plan-${jobId}`,
  groupKey,
  baselineRef: groupKey === PUSHES ? "master" : null,
  entry: { name: "unit", suite: "unit", matrix: {}, status: "failed", outcome: "failed", reason: "" },
  cases: keyedCases(
    "unit",
    Object.entries(statuses).map(([name, status]) => ({ path: ["math"], name, status })),
  ).map(({ identity: _identity, ...c }) => c),
  finishedAt,
});

async function recorded(store: Store, r: NewResultRun): Promise<void> {
  await store.history.record(r);
  await store.history.accept(r.jobId, r.attempt);
}

/** The judge as the App builds it, but for GitHub: the ancestry and the base's policy given. */
function judgeWith(store: Store, commits: BaseCommits): ResultJudge {
  return new ResultJudge({
    history: store.history,
    ancestry: { of: async () => commits },
    policy: { at: async () => ({ failOn: "regressions", known: KnownIssues.none(), knownProblem: null }) },
    octokitFor: async () => ({}) as never,
  });
}

const JOB = { id: "pr-unit", attempt: 1, state: "failed", outcome: "failed", failedAttempts: 0, spec: { runner: "docker" } } as unknown as JobRecord;
const PLAN = { id: "plan-pr-unit", repo: REPO, headSha: HEAD, installationId: 1, baseRef: "master", groupKey: PULL } as unknown as PlanRecord;
const READS = { jobs: { job: async () => null } } as unknown as JobReads;

const page = async (store: Store) => (await pullData(store.history, READS, "https://github.example", REPO, 7)).jobs[0]!;
const names = (view: { classes: { class: string; tests: { id: string }[] }[] }, cls: string) =>
  view.classes.find((c) => c.class === cls)?.tests.map((t) => t.id.split(" › ").at(-1)) ?? [];
/** What the page and the check run both show of a comparison. */
const shown = (view: ReturnType<typeof classifiedView>) => ({
  counts: view.counts,
  regressions: view.regressions,
  unchanged: view.unchanged,
  classes: view.classes,
});

describe.each(ENGINES)("the pull request page's baseline on %s", (engine) => {
  it("classifies against the runs the check run's judgement took, not the newest branch run before it, and by time only where none is recorded", async () => {
    await withStore(engine, async (store) => {
      await recorded(store, run("older", OLDER, PUSHES, 1_000, { add: "passed", sub: "passed", mul: "failed", flip: "passed" }));
      // Two runs of the merge base that disagree on flip: flaky, whichever of them is the baseline.
      await recorded(store, run("base-1", MERGE_BASE, PUSHES, 2_000, { add: "passed", sub: "failed", mul: "failed", flip: "failed" }));
      await recorded(store, run("base-2", MERGE_BASE, PUSHES, 2_100, { add: "passed", sub: "failed", mul: "failed", flip: "passed" }));
      // Merged after the pull request branched: not its merge base, though it finished before the pull request's run.
      await recorded(store, run("newer", NEWER, PUSHES, 3_000, { add: "failed", sub: "failed", mul: "passed", flip: "passed" }));
      await recorded(store, run(JOB.id, HEAD, PULL, 4_000, { add: "failed", sub: "failed", mul: "failed", flip: "failed", div: "passed" }));

      // Not judged yet: chosen by time, and said so.
      const byTime = await page(store);
      expect(byTime.baselineChosen).toEqual({ by: "time", why: "no check run's choice is recorded for these results" });
      expect(byTime.baseline).toMatchObject({ sha: NEWER, commitsOlder: null });
      expect(names(byTime, "new")).toEqual(["mul"]);

      const judgement = (await judgeWith(store, { baseRef: "master", mergeBase: MERGE_BASE, shas: [MERGE_BASE, OLDER] }).judge(JOB, PLAN)) as Judgement;
      expect(judgement.baseline).toMatchObject({ sha: MERGE_BASE, commitsOlder: 0, fromMergeBase: true });
      const agreed = await page(store);
      expect(agreed.baselineChosen).toEqual({ by: "check run", mergeBase: MERGE_BASE });
      expect(agreed.baseline).toMatchObject({ sha: MERGE_BASE, jobId: "base-2", commitsOlder: 0 });
      expect(shown(agreed)).toEqual(shown(classifiedView(judgement.comparison)));
      expect(names(agreed, "new")).toEqual(["add"]);
      expect(names(agreed, "flaky")).toEqual(["flip"]);
      expect(agreed.regressions).toBe(judgement.regressions);

      // Judged again from a merge base with no results: the nearest older commit with them, and how far.
      const older = (await judgeWith(store, { baseRef: "master", mergeBase: EMPTY_BASE, shas: [EMPTY_BASE, MERGE_BASE, OLDER] }).judge(JOB, PLAN)) as Judgement;
      expect(older.baseline).toMatchObject({ sha: MERGE_BASE, commitsOlder: 1 });
      const further = await page(store);
      expect(further.baselineChosen).toEqual({ by: "check run", mergeBase: EMPTY_BASE });
      expect(further.baseline).toMatchObject({ sha: MERGE_BASE, commitsOlder: 1 });

      // A baseline past retention is gone: the page chooses by time again, and says why.
      expect(await store.history.prune(2_500)).toBe(3);
      const pruned = await page(store);
      expect(pruned.baselineChosen).toEqual({ by: "time", why: "the check run's baseline is no longer in history" });
      expect(pruned.baseline).toMatchObject({ sha: NEWER });
    });
  });

  it("says there was no baseline where the check run had none, rather than choosing one by time", async () => {
    await withStore(engine, async (store) => {
      await recorded(store, run("newer", NEWER, PUSHES, 3_000, { add: "passed" }));
      await recorded(store, run(JOB.id, HEAD, PULL, 4_000, { add: "failed" }));
      // The merge base's line has no results of the job (and no scheduler to run it there).
      const judgement = (await judgeWith(store, { baseRef: "master", mergeBase: MERGE_BASE, shas: [MERGE_BASE, OLDER] }).judge(JOB, PLAN)) as Judgement;
      expect(judgement.baseline).toBeNull();
      const view = await page(store);
      expect(view.baselineChosen).toEqual({ by: "check run", mergeBase: MERGE_BASE });
      expect(view.baseline).toBeNull();
      expect(names(view, "new_test")).toEqual(["(job)", "add"]);
      expect(shown(view)).toEqual(shown(classifiedView(judgement.comparison)));
    });
  });
});
