import { describe, expect, it } from "@jest/globals";
import type { NewResultRun } from "../../src/orchestrator/store/result-history.js";
import { keyedCases } from "../../src/runners/history/results-set.js";
import { ENGINES, withStore } from "../helpers/stores.js";

const run = (over: Partial<NewResultRun> & Pick<NewResultRun, "jobId" | "sha">, cases: { name: string; status: "passed" | "failed" }[]): NewResultRun => ({
  repo: "o/r",
  jobKey: "unit",
  attempt: 1,
  planId: `plan-${over.jobId}`,
  groupKey: null,
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

  it("finds a job's runs at any of some commits, newest first, and forgets those past retention with their cases", async () => {
    await withStore(engine, async (store) => {
      await store.history.record(run({ jobId: "p1/unit", sha: "a", finishedAt: 1_000 }, [{ name: "add", status: "passed" }]));
      await store.history.record(run({ jobId: "p2/unit", sha: "b", finishedAt: 2_000 }, [{ name: "add", status: "failed" }]));
      await store.history.record(run({ jobId: "p3/unit", sha: "b", finishedAt: 3_000 }, [{ name: "add", status: "passed" }]));
      await store.history.record(run({ jobId: "p4/other", sha: "b", jobKey: "other" }, [{ name: "add", status: "passed" }]));
      expect((await store.history.runsAt("o/r", "unit", ["a", "b", "c"])).map((r) => r.jobId)).toEqual(["p3/unit", "p2/unit", "p1/unit"]);
      expect(await store.history.runsAt("o/r", "unit", [])).toEqual([]);
      expect(await store.history.prune(2_500)).toBe(3);
      expect((await store.history.runsAt("o/r", "unit", ["a", "b"])).map((r) => r.jobId)).toEqual(["p3/unit"]);
      const left = await store.db.selectFrom("result_cases").select("run_id").execute();
      expect(left).toHaveLength(1);
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
