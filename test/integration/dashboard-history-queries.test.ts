import { describe, expect, it } from "@jest/globals";
import { compareChanged } from "../../src/app/history/changed-comparison.js";
import { compareWithBaseRuns, storedSet } from "../../src/app/history/result-judge.js";
import type { NewResultRun, ResultRun } from "../../src/orchestrator/store/result-history.js";
import type { Store } from "../../src/orchestrator/store/store.js";
import { keyedCases } from "../../src/runners/history/results-set.js";
import { ENGINES, withStore } from "../helpers/stores.js";

/** A repository whose name holds LIKE's wildcard, and a group key it would match were the wildcard not escaped. */
const REPO = "o/my_repo";
const OTHER = "o/myXrepo";

const run = (over: Partial<NewResultRun> & Pick<NewResultRun, "jobId" | "sha" | "groupKey" | "finishedAt">, status: "passed" | "failed"): NewResultRun => ({
  repo: REPO,
  jobKey: "unit",
  attempt: 1,
  planId: `plan-${over.jobId}`,
  baselineRef: over.groupKey?.startsWith("push:") ? "master" : null,
  entry: { name: "unit", suite: "unit", matrix: {}, status: "failed", outcome: "failed", reason: "" },
  cases: keyedCases("unit", [{ path: ["math"], name: "add", status }]).map(({ identity: _identity, ...c }) => c),
  ...over,
});

const KEY = keyedCases("unit", [{ path: ["math"], name: "add", status: "passed" }])[0]!.key;
const DAY = 86_400_000;

/** Recorded as the App records a report whose end its job took. */
async function recorded(store: Store, r: NewResultRun): Promise<void> {
  await store.history.record(r);
  await store.history.accept(r.jobId, r.attempt);
}

describe.each(ENGINES)("the dashboard's history queries on %s", (engine) => {
  it("finds a pull request's runs with its reruns', a job's base-branch runs before a time, and a test's standing, each group taken literally", async () => {
    await withStore(engine, async (store) => {
      const push = `push:${REPO}:master`;
      await recorded(store, run({ jobId: "b1", sha: "a1", groupKey: push, finishedAt: 1 * DAY }, "failed"));
      await recorded(store, run({ jobId: "b2", sha: "a2", groupKey: push, finishedAt: 20 * DAY }, "passed"));
      await recorded(store, run({ jobId: "b3", sha: "a3", groupKey: push, finishedAt: 27 * DAY }, "failed"));
      await recorded(store, run({ jobId: "b4", sha: "a4", groupKey: push, finishedAt: 29 * DAY }, "passed"));
      await recorded(store, run({ jobId: "x1", sha: "a5", groupKey: `push:${OTHER}:master`, finishedAt: 29 * DAY }, "failed"));
      await recorded(store, run({ jobId: "pr1", sha: "c1", groupKey: `pr:${REPO}#1`, finishedAt: 28 * DAY }, "failed"));
      await recorded(store, run({ jobId: "pr1r", sha: "c1", groupKey: `pr:${REPO}#1 rerun c1 unit`, finishedAt: 28.5 * DAY }, "passed"));
      await recorded(store, run({ jobId: "pr10", sha: "c9", groupKey: `pr:${REPO}#10`, finishedAt: 28 * DAY }, "failed"));

      expect((await store.history.runsOfGroup(REPO, `pr:${REPO}#1`, " rerun ", 10)).map((r) => r.jobId)).toEqual(["pr1r", "pr1"]);
      expect((await store.history.runsOfGroup(REPO, `pr:${REPO}#1`, " rerun ", 1)).map((r) => r.jobId)).toEqual(["pr1r"]);
      expect((await store.history.runsInGroupsBefore(REPO, "unit", `push:${REPO}:`, 28 * DAY, 10)).map((r) => r.jobId)).toEqual(["b3", "b2", "b1"]);
      expect((await store.history.runsInGroupsBefore(REPO, "unit", `push:${REPO}:`, 28 * DAY, 2)).map((r) => r.jobId)).toEqual(["b3", "b2"]);
      // A group whose key matches only if "_" were a wildcard is not the repository's.
      expect((await store.history.runsInGroupsBefore(REPO, "unit", `push:${REPO}:`, 30 * DAY, 1)).map((r) => r.jobId)).toEqual(["b4"]);

      const standing = await store.history.testStanding(REPO, KEY, `push:${REPO}:`, [23 * DAY, 0]);
      expect(standing.since).toEqual([
        { from: 23 * DAY, passed: 1, failing: 1 },
        { from: 0, passed: 2, failing: 2 },
      ]);
      expect(standing.firstFailure).toEqual({ sha: "a1", finishedAt: 1 * DAY });
      expect(standing.lastPass).toEqual({ sha: "a4", finishedAt: 29 * DAY });
      expect(await store.history.testName(REPO, KEY)).toEqual({ path: ["math"], name: "add", jobKey: "unit" });
      expect(await store.history.testName(REPO, "nothing")).toBeNull();
      expect((await store.history.testStanding(REPO, KEY, `push:${REPO}:`, [30 * DAY])).since).toEqual([{ from: 30 * DAY, passed: 0, failing: 0 }]);
    });
  });
});

/** A small deterministic generator: the same histories on every run and engine. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** A run of the job with results drawn at random: some tests absent, some named twice, a job that had no verdict or left cases out. */
function randomRun(next: () => number, jobId: string, sha: string, finishedAt: number): NewResultRun {
  const pick = <T>(options: readonly T[]) => options[Math.floor(next() * options.length)]!;
  const listed = Array.from({ length: 30 }, (_, i) => ({
    path: ["t"],
    name: `case ${i % 26}`,
    status: pick(["passed", "failed", "errored", "skipped"] as const),
  })).filter(() => next() > 0.15);
  const outcome = pick(["failed", "failed", "failed", "passed", "infrastructure", "kernel_panic"]);
  return {
    repo: REPO,
    sha,
    jobKey: "unit",
    jobId,
    attempt: 1,
    planId: `plan-${jobId}`,
    groupKey: `push:${REPO}:master`,
    baselineRef: "master",
    entry: {
      name: "unit",
      suite: "unit",
      matrix: {},
      status: outcome === "passed" ? "succeeded" : "failed",
      outcome,
      reason: "",
      ...(next() < 0.2 ? { casesOmitted: 7 } : {}),
    },
    cases: keyedCases("unit", listed).map(({ identity: _identity, ...c }) => c),
    finishedAt,
  };
}

describe.each(ENGINES)("the pages' comparison from changed cases alone on %s", (engine) => {
  it("classifies as the check run's comparison over every case does, and says how many it left unread past its limit", async () => {
    await withStore(engine, async (store) => {
      for (let seed = 1; seed <= 25; seed++) {
        const next = random(seed);
        // Nearest first, as the judge orders them: two runs of the nearest commit, then older commits.
        const shas = [`${seed}a`, `${seed}a`, `${seed}b`, `${seed}c`, `${seed}d`];
        const window: ResultRun[] = [];
        for (const [i, sha] of shas.entries()) {
          const r = randomRun(next, `s${seed}-base-${i}`, sha, 1_000 - i);
          await store.history.record(r);
          window.push((await store.history.runOf(r.jobId, 1))!);
        }
        const headRecord = randomRun(next, `s${seed}-head`, `${seed}h`, 2_000);
        await store.history.record(headRecord);
        const head = (await store.history.runOf(headRecord.jobId, 1))!;
        for (const runs of [window, window.slice(0, 1), []]) {
          const full = (await compareWithBaseRuns(store.history, await storedSet(store.history, head, head.sha.slice(0, 7)), runs)).comparison;
          const { comparison, unread } = await compareChanged(store.history, head, runs);
          expect(unread).toBe(0);
          expect({ ...comparison, duplicates: 0 }).toEqual({ ...full, duplicates: 0 });
          // Past a limit of 3 changed cases: those 3 classified, the rest counted as unread and never as unchanged.
          const capped = await compareChanged(store.history, head, runs, 3);
          const classified = Object.values(capped.comparison.counts).reduce((a, b) => a + b, 0);
          const fullClassified = Object.values(full.counts).reduce((a, b) => a + b, 0);
          expect(capped.unread).toBe(Math.max(0, fullClassified + full.nowSkipped.length - (full.tests.some((t) => t.identity.name === "(job)") ? 1 : 0) - 3));
          expect(classified + capped.comparison.unchanged + capped.unread).toBe(fullClassified + full.unchanged);
        }
      }
    });
  });
});
