import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testData } from "../src/app/http/dashboard-history.js";
import { openStore } from "../src/orchestrator/store/open-store.js";
import { identityKey } from "../src/runners/history/test-identity.js";
import { compare, table } from "./measure.js";

const RUNS = Number(process.env.KTO_BENCH_RUNS ?? 5);
/** Case rows stored: a job of 1,000 tests run 1,000 times. */
const CASE_ROWS = Number(process.env.KTO_BENCH_HISTORY_ROWS ?? 1_000_000);
const TESTS_PER_RUN = 1_000;
const REPO = "bench/linux";

/**
 * A test's page read from SQLite with a million case rows, every run holding the test:
 * against a bare select of the same test's newest rows through the index it uses.
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
        const status = i === 0 && r % 7 === 0 ? "failed" : "passed";
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
      if (r % 100 === 99) progress(`history: ${(r + 1) * TESTS_PER_RUN} case rows stored`);
    }
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
    return `## History (${RUNS} runs each, medians of wall time)\n\n${table([{ ...row, goal: "—" }])}\n`;
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
