import { sql, type Kysely, type Selectable } from "kysely";
import { CaseChanges } from "./case-changes.js";
import type { Database, ResultRunsTable } from "./schema.js";

/** One case of a finished attempt, with the identity key history compares it by. */
export interface HistoryCase {
  key: string;
  path: string[];
  name: string;
  status: string;
  durationMs?: number;
}

/** A finished attempt's results as they go into history. */
export interface NewResultRun {
  repo: string;
  sha: string;
  jobKey: string;
  jobId: string;
  attempt: number;
  planId: string;
  groupKey: string | null;
  /** The branch whose baseline this run may be; null for a pull request's run, whatever commit it tested. */
  baselineRef: string | null;
  /** The job's results.json entry, without its cases. */
  entry: Record<string, unknown>;
  cases: readonly HistoryCase[];
  finishedAt: number;
}

export interface ResultRun {
  id: number;
  repo: string;
  sha: string;
  jobKey: string;
  jobId: string;
  attempt: number;
  planId: string;
  groupKey: string | null;
  entry: Record<string, unknown>;
  failedCases: number;
  caseCount: number;
  finishedAt: number;
  /** What its judgement last compared it with; null for a run never judged (or judged before kto recorded it). */
  judgedBaseline: JudgedBaseline | null;
}

/** The base-branch runs a judgement compared a run with, and where they sit on the branch. */
export interface JudgedBaseline {
  /** Nearest first: the first is the baseline, and all of them told flaky tests. Empty: judged with no baseline. */
  runIds: number[];
  /** How many commits older the baseline is than the merge base (or a branch commit's parent); null with no baseline. */
  commitsOlder: number | null;
  /** The pull request's merge base the baseline was looked for from; null for a branch commit's run, or an ancestry not read. */
  mergeBase: string | null;
}

/** A test's result in one run, for its page: where and when it ran. */
export interface TestResultRow {
  runId: number;
  sha: string;
  groupKey: string | null;
  jobId: string;
  status: string;
  durationMs: number | null;
  finishedAt: number;
}

/** A test's standing on a branch: how often it passed lately, when it first failed and last passed. */
export interface TestStanding {
  /** Passed and failing results since each bound; skipped results count in neither. */
  since: { from: number; passed: number; failing: number }[];
  firstFailure: { sha: string; finishedAt: number } | null;
  lastPass: { sha: string; finishedAt: number } | null;
}

/** A LIKE pattern matching `prefix` literally, then anything: repository names may hold `_`. */
const startsWith = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Rows per insert: well under SQLite's and PostgreSQL's bound on a statement's parameters. */
const CASES_PER_INSERT = 500;

const FAILING = new Set(["failed", "errored"]);

type RunRow = Selectable<ResultRunsTable>;

function runOf(row: RunRow): ResultRun {
  return {
    id: Number(row.id),
    repo: row.repo,
    sha: row.sha,
    jobKey: row.job_key,
    jobId: row.job_id,
    attempt: row.attempt,
    planId: row.plan_id,
    groupKey: row.group_key,
    entry: JSON.parse(row.entry) as Record<string, unknown>,
    failedCases: row.failed_cases,
    caseCount: row.case_count,
    finishedAt: Number(row.finished_at),
    judgedBaseline: row.judged_baseline === null ? null : (JSON.parse(row.judged_baseline) as JudgedBaseline),
  };
}

/**
 * Test results kept across commits: each finished attempt once, with every case it listed.
 * A later run of the same job is compared with them; the dashboard draws them.
 */
export class ResultHistory {
  /** A run's cases that differ from its baseline's, read without the rest. */
  readonly changes: CaseChanges;

  constructor(private readonly db: Kysely<Database>) {
    this.changes = new CaseChanges(db);
  }

  /** Records an attempt's results in one transaction; false when that attempt is already recorded (a report sent again). */
  async record(run: NewResultRun): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto("result_runs")
        .values({
          repo: run.repo,
          sha: run.sha,
          job_key: run.jobKey,
          job_id: run.jobId,
          attempt: run.attempt,
          plan_id: run.planId,
          group_key: run.groupKey,
          baseline_ref: run.baselineRef,
          entry: JSON.stringify(run.entry),
          failed_cases: run.cases.filter((c) => FAILING.has(c.status)).length,
          case_count: run.cases.length,
          finished_at: run.finishedAt,
        })
        .onConflict((oc) => oc.columns(["job_id", "attempt"]).doNothing())
        .returning("id")
        .executeTakeFirst();
      if (!inserted) return false;
      const runId = Number(inserted.id);
      for (let start = 0; start < run.cases.length; start += CASES_PER_INSERT)
        await trx
          .insertInto("result_cases")
          .values(
            run.cases.slice(start, start + CASES_PER_INSERT).map((c, i) => ({
              run_id: runId,
              ord: start + i,
              test_key: c.key,
              path: JSON.stringify(c.path),
              name: c.name,
              status: c.status,
              duration_ms: c.durationMs === undefined ? null : Math.round(c.durationMs),
            })),
          )
          .execute();
      return true;
    });
  }

  /** Marks an attempt's results as those of the end its job recorded: only then may they be a baseline. */
  async accept(jobId: string, attempt: number): Promise<void> {
    await this.db.updateTable("result_runs").set({ accepted: 1 }).where("job_id", "=", jobId).where("attempt", "=", attempt).execute();
  }

  /** Keeps what a judgement compared a run with, in place of what an earlier one did. */
  async recordBaseline(runId: number, judged: JudgedBaseline): Promise<void> {
    await this.db
      .updateTable("result_runs")
      .set({ judged_baseline: JSON.stringify(judged) })
      .where("id", "=", runId)
      .execute();
  }

  /** The runs of these ids that history still has, in no particular order. */
  async runsByIds(ids: readonly number[]): Promise<ResultRun[]> {
    if (ids.length === 0) return [];
    const rows = await this.db
      .selectFrom("result_runs")
      .selectAll()
      .where("id", "in", [...ids])
      .execute();
    return rows.map((row) => runOf(row));
  }

  async runOf(jobId: string, attempt: number): Promise<ResultRun | null> {
    const row = await this.db.selectFrom("result_runs").selectAll().where("job_id", "=", jobId).where("attempt", "=", attempt).executeTakeFirst();
    return row ? runOf(row) : null;
  }

  /** The runs of a job at any of `shas` that may be `branch`'s baseline (accepted, of the branch's own plans), newest first. */
  async baselineRuns(repo: string, jobKey: string, shas: readonly string[], branch: string): Promise<ResultRun[]> {
    if (shas.length === 0) return [];
    const rows = await this.db
      .selectFrom("result_runs")
      .selectAll()
      .where("repo", "=", repo)
      .where("job_key", "=", jobKey)
      .where("sha", "in", [...shas])
      .where("baseline_ref", "=", branch)
      .where("accepted", "=", 1)
      .orderBy("finished_at", "desc")
      .orderBy("id", "desc")
      .execute();
    return rows.map((row) => runOf(row));
  }

  /** A job's recent runs that are no branch's (pull requests'), newest first: those a late baseline may judge. */
  async recentUnbranchedRuns(repo: string, jobKey: string, since: number, limit: number): Promise<ResultRun[]> {
    const rows = await this.db
      .selectFrom("result_runs")
      .selectAll()
      .where("repo", "=", repo)
      .where("job_key", "=", jobKey)
      .where("baseline_ref", "is", null)
      .where("finished_at", ">=", since)
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((row) => runOf(row));
  }

  /** Every run of a repository at `sha`, newest first. */
  async runsOfCommit(repo: string, sha: string): Promise<ResultRun[]> {
    const rows = await this.db.selectFrom("result_runs").selectAll().where("repo", "=", repo).where("sha", "=", sha).orderBy("id", "desc").execute();
    return rows.map((row) => runOf(row));
  }

  /** The runs of a plan's jobs (a pull request's commit), newest first. */
  async runsOfPlans(planIds: readonly string[]): Promise<ResultRun[]> {
    if (planIds.length === 0) return [];
    const rows = await this.db
      .selectFrom("result_runs")
      .selectAll()
      .where("plan_id", "in", [...planIds])
      .orderBy("id", "desc")
      .execute();
    return rows.map((row) => runOf(row));
  }

  /** A run's cases in the order its results listed them. */
  async casesOf(runId: number): Promise<Omit<HistoryCase, "key">[]> {
    const rows = await this.db
      .selectFrom("result_cases")
      .select(["path", "name", "status", "duration_ms"])
      .where("run_id", "=", runId)
      .orderBy("ord")
      .execute();
    return rows.map((row) => ({
      path: JSON.parse(row.path) as string[],
      name: row.name,
      status: row.status,
      ...(row.duration_ms === null ? {} : { durationMs: row.duration_ms }),
    }));
  }

  /** A test's results, newest first: at most `limit`, read through its index. */
  async testResults(repo: string, testKey: string, limit: number): Promise<TestResultRow[]> {
    const rows = await this.db
      .selectFrom("result_cases as c")
      .innerJoin("result_runs as r", "r.id", "c.run_id")
      .select(["r.id as runId", "r.sha", "r.group_key", "r.job_id", "c.status", "c.duration_ms", "r.finished_at"])
      .where("c.test_key", "=", testKey)
      .where("r.repo", "=", repo)
      .orderBy("c.run_id", "desc")
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      runId: Number(row.runId),
      sha: row.sha,
      groupKey: row.group_key,
      jobId: row.job_id,
      status: row.status,
      durationMs: row.duration_ms,
      finishedAt: Number(row.finished_at),
    }));
  }

  /** A plan group's runs (a pull request's, its reruns' included), newest first, at most `limit`. */
  async runsOfGroup(repo: string, groupKey: string, rerunSeparator: string, limit: number): Promise<ResultRun[]> {
    const rows = await this.db
      .selectFrom("result_runs")
      .selectAll()
      .where("repo", "=", repo)
      .where((eb) => eb.or([eb("group_key", "=", groupKey), eb("group_key", "like", sql<string>`${startsWith(groupKey + rerunSeparator)} escape '\\'`)]))
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((row) => runOf(row));
  }

  /** A job's runs in plan groups starting with `groupPrefix` (a branch's pushes) finished by `before`, newest first. */
  async runsInGroupsBefore(repo: string, jobKey: string, groupPrefix: string, before: number, limit: number): Promise<ResultRun[]> {
    const rows = await this.db
      .selectFrom("result_runs")
      .selectAll()
      .where("repo", "=", repo)
      .where("job_key", "=", jobKey)
      .where("group_key", "like", sql<string>`${startsWith(groupPrefix)} escape '\\'`)
      // As a check run's baseline: only a branch's own runs whose end their job took.
      .where("baseline_ref", "is not", null)
      .where("accepted", "=", 1)
      .where("finished_at", "<=", before)
      .orderBy("finished_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map((row) => runOf(row));
  }

  /** How a test is shown: its levels and name as last recorded; null when history has no result of it. */
  async testName(repo: string, testKey: string): Promise<{ path: string[]; name: string; jobKey: string } | null> {
    const row = await this.db
      .selectFrom("result_cases as c")
      .innerJoin("result_runs as r", "r.id", "c.run_id")
      .select(["c.path", "c.name", "r.job_key"])
      .where("c.test_key", "=", testKey)
      .where("r.repo", "=", repo)
      .orderBy("c.run_id", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ? { path: JSON.parse(row.path) as string[], name: row.name, jobKey: row.job_key } : null;
  }

  /**
   * A test's standing in plan groups starting with `groupPrefix`, each read through the
   * test's index: its results since each of `sinceBounds`, its first failure and last pass.
   */
  async testStanding(repo: string, testKey: string, groupPrefix: string, sinceBounds: readonly number[]): Promise<TestStanding> {
    const results = () =>
      this.db
        .selectFrom("result_cases as c")
        .innerJoin("result_runs as r", "r.id", "c.run_id")
        .where("c.test_key", "=", testKey)
        .where("r.repo", "=", repo)
        .where("r.group_key", "like", sql<string>`${startsWith(groupPrefix)} escape '\\'`);
    const since: TestStanding["since"] = [];
    for (const from of sinceBounds) {
      // The lowest run id since `from` bounds the range of the test's index that is read.
      const first = await this.db
        .selectFrom("result_runs")
        .select((eb) => eb.fn.min("id").as("id"))
        .where("finished_at", ">=", from)
        .executeTakeFirst();
      if (first?.id === null || first?.id === undefined) {
        since.push({ from, passed: 0, failing: 0 });
        continue;
      }
      const rows = await results()
        .select(["c.status", (eb) => eb.fn.countAll<number | string | bigint>().as("n")])
        .where("c.run_id", ">=", Number(first.id))
        .where("r.finished_at", ">=", from)
        .groupBy("c.status")
        .execute();
      const count = (statuses: readonly string[]) => rows.filter((r) => statuses.includes(r.status)).reduce((n, r) => n + Number(r.n), 0);
      since.push({ from, passed: count(["passed"]), failing: count([...FAILING]) });
    }
    const first = await results()
      .select(["r.sha", "r.finished_at"])
      .where("c.status", "in", [...FAILING])
      .orderBy("c.run_id", "asc")
      .limit(1)
      .executeTakeFirst();
    const last = await results().select(["r.sha", "r.finished_at"]).where("c.status", "=", "passed").orderBy("c.run_id", "desc").limit(1).executeTakeFirst();
    const at = (row: { sha: string; finished_at: number } | undefined) => (row ? { sha: row.sha, finishedAt: Number(row.finished_at) } : null);
    return { since, firstFailure: at(first), lastPass: at(last) };
  }

  /**
   * Forgets runs finished before `before`, and their cases; how many runs went. A batch of
   * runs per transaction: a run may hold 100,000 cases, and one long delete would hold
   * SQLite's write lock (and the runners' reports with it) for all of them.
   */
  async prune(before: number, runsPerBatch = 20): Promise<number> {
    let pruned = 0;
    for (;;) {
      const ids = (await this.db.selectFrom("result_runs").select("id").where("finished_at", "<", before).orderBy("id").limit(runsPerBatch).execute()).map(
        (r) => Number(r.id),
      );
      if (ids.length === 0) return pruned;
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom("result_cases").where("run_id", "in", ids).execute();
        await trx.deleteFrom("result_runs").where("id", "in", ids).execute();
      });
      pruned += ids.length;
    }
  }
}
