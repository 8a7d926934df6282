import { describe, expect, it } from "@jest/globals";
import type { NewResultRun } from "../../src/orchestrator/store/result-history.js";
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
