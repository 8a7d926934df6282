import { describe, expect, it } from "@jest/globals";
import { sql } from "kysely";
import { migrate } from "../../src/orchestrator/store/migrations.js";
import type { NewResultRun } from "../../src/orchestrator/store/result-history.js";
import { keyedCases } from "../../src/runners/history/results-set.js";
import { ENGINES, withStore } from "../helpers/stores.js";

const run = (over: Partial<NewResultRun> & Pick<NewResultRun, "jobId" | "sha">, cases: { name: string; status: "passed" | "failed" }[]): NewResultRun => ({
  repo: "o/r",
  jobKey: "unit",
  attempt: 1,
  planId: `plan-${over.jobId}`,
  groupKey: null,
  baselineRef: "main",
  entry: { name: "unit", suite: "unit", matrix: {}, status: "failed", outcome: "failed", reason: "" },
  cases: keyedCases(
    "unit",
    cases.map((c) => ({ path: ["math"], ...c })),
  ).map(({ identity: _identity, ...c }) => c),
  finishedAt: 1_000,
  ...over,
});

describe.each(ENGINES)("result history on %s", (engine) => {
  it("records an attempt once, whatever number of times its report arrives, with every case in its order", async () => {
    await withStore(engine, async (store) => {
      const first = run({ jobId: "p/unit", sha: "a" }, [
        { name: "add", status: "passed" },
        { name: "add", status: "failed" },
        { name: "sub", status: "failed" },
      ]);
      expect(await store.history.record(first)).toBe(true);
      expect(await store.history.record({ ...first, cases: [] })).toBe(false);
      const kept = (await store.history.runOf("p/unit", 1))!;
      expect(kept).toMatchObject({ sha: "a", failedCases: 2, caseCount: 3 });
      expect((await store.history.casesOf(kept.id)).map((c) => `${c.name}:${c.status}`)).toEqual(["add:passed", "add:failed", "sub:failed"]);
      // Two tests of one name keep apart: the second is its own identity.
      const keys = first.cases.map((c) => c.key);
      expect(new Set(keys).size).toBe(3);
      expect((await store.history.testResults("o/r", keys[1]!, 10)).map((r) => r.status)).toEqual(["failed"]);
    });
  });

  it("finds a branch's accepted runs of a job at some commits, newest first, and forgets those past retention with their cases", async () => {
    await withStore(engine, async (store) => {
      const record = async (r: NewResultRun, accepted = true) => {
        await store.history.record(r);
        if (accepted) await store.history.accept(r.jobId, r.attempt);
      };
      await record(run({ jobId: "p1/unit", sha: "a", finishedAt: 1_000 }, [{ name: "add", status: "passed" }]));
      await record(run({ jobId: "p2/unit", sha: "b", finishedAt: 2_000 }, [{ name: "add", status: "failed" }]));
      await record(run({ jobId: "p3/unit", sha: "b", finishedAt: 3_000 }, [{ name: "add", status: "passed" }]));
      await record(run({ jobId: "p4/other", sha: "b", jobKey: "other" }, [{ name: "add", status: "passed" }]));
      // A pull request's run at a branch commit, and a run whose end its job ignored, are no baseline.
      await record(run({ jobId: "pr/unit", sha: "b", finishedAt: 4_000, baselineRef: null }, [{ name: "add", status: "failed" }]));
      await record(run({ jobId: "late/unit", sha: "b", finishedAt: 5_000 }, [{ name: "add", status: "failed" }]), false);
      await record(run({ jobId: "rel/unit", sha: "b", finishedAt: 6_000, baselineRef: "release" }, [{ name: "add", status: "failed" }]));
      expect((await store.history.baselineRuns("o/r", "unit", ["a", "b", "c"], "main")).map((r) => r.jobId)).toEqual(["p3/unit", "p2/unit", "p1/unit"]);
      expect((await store.history.baselineRuns("o/r", "unit", ["b"], "release")).map((r) => r.jobId)).toEqual(["rel/unit"]);
      expect(await store.history.baselineRuns("o/r", "unit", [], "main")).toEqual([]);
      expect(await store.history.prune(2_500, 2)).toBe(3);
      expect((await store.history.baselineRuns("o/r", "unit", ["a", "b"], "main")).map((r) => r.jobId)).toEqual(["p3/unit"]);
      const left = await store.db.selectFrom("result_cases").select("run_id").execute();
      expect(left).toHaveLength(4);
    });
  });

  it("keeps what a judgement compared a run with, the last in place of an earlier, and migrates a store of runs from before it", async () => {
    await withStore(engine, async (store) => {
      await store.history.record(run({ jobId: "base/unit", sha: "a" }, [{ name: "add", status: "passed" }]));
      await store.history.record(run({ jobId: "head/unit", sha: "b", baselineRef: null }, [{ name: "add", status: "failed" }]));
      // The store as 016 left it, populated: the migration only adds a column, every run kept and none judged.
      await sql`alter table result_runs drop column judged_baseline`.execute(store.db);
      await sql`delete from kto_migrations where name = '017-judged-baselines'`.execute(store.db);
      expect(await migrate(store.db, store.engine)).toEqual(["017-judged-baselines"]);
      const base = (await store.history.runOf("base/unit", 1))!;
      const head = (await store.history.runOf("head/unit", 1))!;
      expect(head).toMatchObject({ sha: "b", failedCases: 1, judgedBaseline: null });
      expect((await store.history.casesOf(head.id)).map((c) => c.status)).toEqual(["failed"]);

      await store.history.recordBaseline(head.id, { runIds: [], commitsOlder: null, mergeBase: "m" });
      await store.history.recordBaseline(head.id, { runIds: [base.id], commitsOlder: 2, mergeBase: "m" });
      expect((await store.history.runOf("head/unit", 1))!.judgedBaseline).toEqual({ runIds: [base.id], commitsOlder: 2, mergeBase: "m" });
      expect((await store.history.runOf("base/unit", 1))!.judgedBaseline).toBeNull();
      expect((await store.history.runsByIds([base.id, head.id, 999_999])).map((r) => r.jobId).sort()).toEqual(["base/unit", "head/unit"]);
      expect(await store.history.runsByIds([])).toEqual([]);
    });
  });

  it("takes a run of 100,000 cases in one transaction", async () => {
    await withStore(engine, async (store) => {
      const cases = Array.from({ length: 100_000 }, (_, i) => ({ name: `case ${i}`, status: (i % 97 === 0 ? "failed" : "passed") as "passed" | "failed" }));
      expect(await store.history.record(run({ jobId: "big/unit", sha: "a" }, cases))).toBe(true);
      const kept = (await store.history.runOf("big/unit", 1))!;
      expect(kept.caseCount).toBe(100_000);
      expect(kept.failedCases).toBe(Math.ceil(100_000 / 97));
      expect(await store.history.casesOf(kept.id)).toHaveLength(100_000);
    });
  });
});
