import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pullData, testData } from "../src/app/http/dashboard-history.js";
import { compareWithBaseRuns, storedSet } from "../src/app/history/result-judge.js";
import { openStore } from "../src/orchestrator/store/open-store.js";
import type { JobReads } from "../src/orchestrator/store/store.js";
import { identityKey } from "../src/runners/history/test-identity.js";
import { compare, table } from "./measure.js";

const RUNS = Number(process.env.KTO_BENCH_RUNS ?? 5);
/** Case rows stored: by default a job of 1,000 tests run 1,000 times. */
const CASE_ROWS = Number(process.env.KTO_BENCH_HISTORY_ROWS ?? 1_000_000);
/** Tests per run: 100,000 (with more rows) is a pull request page's worst case, the most a job may report. */
const TESTS_PER_RUN = Number(process.env.KTO_BENCH_HISTORY_TESTS ?? 1_000);
const REPO = "bench/linux";

/** Base-branch runs a judgement compares with: the baseline and the window that tells flaky tests. */
const WINDOW = 10;

/**
 * A test's page read from SQLite with a million case rows, every run holding the test:
 * against a bare select of the same test's newest rows through the index it uses. A pull
 * request's page, its run judged against the ten branch runs before it: against a bare
 * select of that run's cases, and beside the judge's comparison, which reads every case of
 * the eleven runs.
 */
export async function historyQueryBenchmark(progress: (line: string) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "kto-history-bench-"));
  const store = await openStore({ dataDir: dir, databaseUrl: "" });
  try {
    const runs = Math.max(1, Math.round(CASE_ROWS / TESTS_PER_RUN));
    const start = Date.now() - runs * 60_000;
    for (let r = 0; r < runs; r++) {
      const cases = Array.from({ length: TESTS_PER_RUN }, (_, i) => {
        const name = `case ${i}`;
        // Every seventh run fails the measured test: its page has failures and passes to find.
        // A pull request's run fails one test in fifty besides: its page has regressions to list.
        const status = (i === 0 && r % 7 === 0) || (r % 5 === 0 && i % 50 === 1) ? "failed" : "passed";
        return { key: identityKey({ job: "unit", path: ["suite"], name, occurrence: 1 }), path: ["suite"], name, status };
      });
      await store.history.record({
        repo: REPO,
        sha: r.toString(16).padStart(40, "0"),
        jobKey: "unit",
        jobId: `job-${r}`,
        attempt: 1,
        planId: `plan-${r}`,
        groupKey: r % 5 === 0 ? `pr:${REPO}#${r}` : `push:${REPO}:master`,
        baselineRef: r % 5 === 0 ? null : "master",
        entry: { name: "unit", suite: "unit", matrix: {}, status: "succeeded", outcome: "passed", reason: "" },
        cases,
        finishedAt: start + r * 60_000,
      });
      // As the App takes a job's end: only then may a branch's run be a baseline.
      await store.history.accept(`job-${r}`, 1);
      if (r % 100 === 99) progress(`history: ${(r + 1) * TESTS_PER_RUN} case rows stored`);
    }
    // The newest pull request's run, judged as the check run would have: the branch's runs before it.
    const number = Math.floor((runs - 1) / 5) * 5;
    const head = (await store.history.runOf(`job-${number}`, 1))!;
    const base = (await store.history.runsInGroupsBefore(REPO, "unit", `push:${REPO}:`, head.finishedAt, WINDOW)).filter((r) => r.id !== head.id);
    await store.history.recordBaseline(head.id, { runIds: base.map((r) => r.id), commitsOlder: 0, mergeBase: base[0]?.sha ?? null });
    const reads = { jobs: { job: async () => null } } as unknown as JobReads;
    const pull = await compare(
      `the pull request page's queries (${runs * TESTS_PER_RUN} case rows)`,
      `a select of the run's ${TESTS_PER_RUN} cases`,
      RUNS,
      () => pullData(store.history, reads, "https://github.com", REPO, number),
      () => store.db.selectFrom("result_cases").select(["test_key", "status"]).where("run_id", "=", head.id).execute(),
      progress,
    );
    const judged = await compare(
      `the judge's comparison of the same run, every case read`,
      `a select of the run's ${TESTS_PER_RUN} cases`,
      RUNS,
      async () => compareWithBaseRuns(store.history, await storedSet(store.history, head, "head"), base),
      () => store.db.selectFrom("result_cases").select(["test_key", "status"]).where("run_id", "=", head.id).execute(),
      progress,
    );
    const key = identityKey({ job: "unit", path: ["suite"], name: "case 0", occurrence: 1 });
    const row = await compare(
      `the test page's queries (${runs * TESTS_PER_RUN} case rows)`,
      "an indexed select of the test's 300 newest rows",
      RUNS,
      () => testData(store.history, REPO, key, Date.now()),
      () => store.db.selectFrom("result_cases").select(["run_id", "status"]).where("test_key", "=", key).orderBy("run_id", "desc").limit(300).execute(),
      progress,
    );
    // The page reads the rows the select does, then pass rates and first failure and last pass over all of them.
    return `## History (${RUNS} runs each, medians of wall time)\n\n${table([row, pull, judged].map((r) => ({ ...r, goal: "—" })))}\n`;
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
