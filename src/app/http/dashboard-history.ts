import type { ResultHistory, ResultRun } from "../../orchestrator/store/result-history.js";
import type { JobReads } from "../../orchestrator/store/store.js";
import { TEST_CLASSES, type Comparison, type TestClass } from "../../runners/history/comparison.js";
import { identityKey, identityText } from "../../runners/history/test-identity.js";
import { compareChanged } from "../history/changed-comparison.js";
import { pullRequestGroupOf, RERUN } from "../webhooks/plan-target.js";
import { pullBaseline, type PullBaseline } from "./pull-baseline.js";

/** Tests listed per class: the count covers the rest, so a page with thousands of failures stays readable. */
export const TESTS_PER_CLASS = 200;
/** A pull request's runs read for its page: its jobs' newest are among them. */
const PULL_RUNS = 500;
/** A test's results read for its grid. */
const TEST_RESULTS = 300;
/** Base-branch commits the grid shows. */
const GRID_COMMITS = 60;
const DAY_MS = 86_400_000;

type HistoryReads = Pick<
  ResultHistory,
  "runsOfGroup" | "runsInGroupsBefore" | "runsByIds" | "runsOfCommit" | "changes" | "testResults" | "testName" | "testStanding"
>;

/** A comparison as the pages show it: counts, and each class's first tests with the key their page is found by. */
export interface ClassifiedView {
  counts: Record<TestClass, number>;
  regressions: number;
  unchanged: number;
  incomplete: string[];
  classes: { class: TestClass; count: number; tests: { id: string; key: string; base: string | null; head: string }[] }[];
  /** Changed tests past those a page reads of a run: in no class and not unchanged. */
  unread: number;
}

export interface JobView extends ClassifiedView {
  jobKey: string;
  suite: string;
  arch: string;
  jobId: string;
  attempt: number;
  sha: string;
  finishedAt: number;
  checkRunUrl: string | null;
  baseline: { sha: string; finishedAt: number; jobId: string; commitsOlder: number | null } | null;
  /** Whose choice the baseline is: the check run's, or by time where none is recorded. */
  baselineChosen: PullBaseline["chosen"];
  notes: string[];
}

export interface PullData {
  repo: string;
  number: number;
  pullUrl: string;
  jobs: JobView[];
}

export interface TestData {
  repo: string;
  key: string;
  /** `job › path › name`; null when history has no result of the test. */
  name: string | null;
  jobKey: string | null;
  /** Base-branch results, newest first, one per commit. */
  base: { sha: string; status: string; finishedAt: number; jobId: string }[];
  /** Pull requests' results in the same span, newest first. */
  pulls: { number: number | null; sha: string; status: string; finishedAt: number; jobId: string }[];
  passRates: { days: number; passed: number; failing: number; rate: number | null }[];
  firstFailure: { sha: string; finishedAt: number } | null;
  lastPass: { sha: string; finishedAt: number } | null;
}

export interface CompareData {
  repo: string;
  base: string;
  head: string;
  jobs: (ClassifiedView & { jobKey: string; suite: string; arch: string; baseJobId: string; headJobId: string })[];
  onlyBase: string[];
  onlyHead: string[];
}

export function classifiedView(comparison: Comparison, unread = 0): ClassifiedView {
  return {
    counts: comparison.counts,
    regressions: comparison.counts.new + comparison.failingNewTests,
    unchanged: comparison.unchanged,
    incomplete: comparison.incomplete,
    classes: TEST_CLASSES.filter((c) => comparison.counts[c] > 0).map((c) => ({
      class: c,
      count: comparison.counts[c],
      tests: comparison.tests
        .filter((t) => t.class === c)
        .slice(0, TESTS_PER_CLASS)
        .map((t) => ({ id: identityText(t.identity), key: identityKey(t.identity), base: t.base, head: t.head })),
    })),
    unread,
  };
}

const entryText = (run: ResultRun, field: string) => {
  const value = run.entry[field];
  const matrix = run.entry.matrix as Record<string, unknown> | undefined;
  if (typeof value === "string") return value;
  return field === "arch" && typeof matrix?.arch === "string" ? matrix.arch : "";
};

/** The newest run of each job, in suite and arch order. */
function newestPerJob(runs: readonly ResultRun[]): ResultRun[] {
  const newest = new Map<string, ResultRun>();
  for (const run of runs) {
    const seen = newest.get(run.jobKey);
    if (!seen || run.finishedAt > seen.finishedAt || (run.finishedAt === seen.finishedAt && run.id > seen.id)) newest.set(run.jobKey, run);
  }
  return [...newest.values()].sort(
    (a, b) => cmp(entryText(a, "suite"), entryText(b, "suite")) || cmp(entryText(a, "arch"), entryText(b, "arch")) || cmp(a.jobKey, b.jobKey),
  );
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A pull request's jobs, each newest run compared as its check run compared it: against
 * the base-branch runs its judgement recorded (`pullBaseline`), else chosen by time. Known
 * issues (read from the base branch on GitHub) are not applied here.
 */
export async function pullData(history: HistoryReads, reads: JobReads, serverUrl: string, repo: string, number: number): Promise<PullData> {
  const runs = newestPerJob(await history.runsOfGroup(repo, pullRequestGroupOf(repo, number), RERUN, PULL_RUNS));
  const jobs: JobView[] = [];
  for (const head of runs) {
    const chosen = await pullBaseline(history, head);
    const { comparison, unread } = await compareChanged(history, head, chosen.window);
    const nearest = chosen.window[0] ?? null;
    const job = await reads.jobs.job(head.jobId);
    jobs.push({
      jobKey: head.jobKey,
      suite: entryText(head, "suite"),
      arch: entryText(head, "arch"),
      jobId: head.jobId,
      attempt: head.attempt,
      sha: head.sha,
      finishedAt: head.finishedAt,
      checkRunUrl: job?.checkRunId ? `${serverUrl}/${repo}/runs/${job.checkRunId}` : null,
      baseline: nearest ? { sha: nearest.sha, finishedAt: nearest.finishedAt, jobId: nearest.jobId, commitsOlder: chosen.commitsOlder } : null,
      baselineChosen: chosen.chosen,
      notes: chosen.notes,
      ...classifiedView(comparison, unread),
    });
  }
  return { repo, number, pullUrl: `${serverUrl}/${repo}/pull/${number}`, jobs };
}

/** A test's results on the base branch with pull requests' beside them, and how it stands lately. */
export async function testData(history: HistoryReads, repo: string, key: string, now: number): Promise<TestData> {
  const named = await history.testName(repo, key);
  const rows = await history.testResults(repo, key, TEST_RESULTS);
  const pushes = `push:${repo}:`;
  const base: TestData["base"] = [];
  for (const row of rows)
    if (row.groupKey?.startsWith(pushes) && !base.some((b) => b.sha === row.sha) && base.length < GRID_COMMITS)
      base.push({ sha: row.sha, status: row.status, finishedAt: row.finishedAt, jobId: row.jobId });
  const oldest = base.at(-1)?.finishedAt ?? 0;
  const pulls = rows
    .filter((row) => row.groupKey?.startsWith("pr:") && row.finishedAt >= oldest)
    .map((row) => ({ number: prNumber(row.groupKey!), sha: row.sha, status: row.status, finishedAt: row.finishedAt, jobId: row.jobId }));
  const days = [7, 30];
  const standing = await history.testStanding(
    repo,
    key,
    pushes,
    days.map((d) => now - d * DAY_MS),
  );
  return {
    repo,
    key,
    name: named ? `${named.jobKey} › ${[...named.path, named.name].join(" › ")}` : null,
    jobKey: named?.jobKey ?? null,
    base,
    pulls,
    passRates: standing.since.map((s, i) => ({
      days: days[i]!,
      passed: s.passed,
      failing: s.failing,
      rate: s.passed + s.failing ? s.passed / (s.passed + s.failing) : null,
    })),
    firstFailure: standing.firstFailure,
    lastPass: standing.lastPass,
  };
}

function prNumber(groupKey: string): number | null {
  const match = /#(\d+)(?: |$)/.exec(groupKey);
  return match ? Number(match[1]) : null;
}

/** Every job with results at both commits, the newest run at each, classified head against base. */
export async function compareData(history: HistoryReads, repo: string, base: string, head: string): Promise<CompareData> {
  const baseRuns = new Map(newestPerJob(await history.runsOfCommit(repo, base)).map((r) => [r.jobKey, r]));
  const headRuns = newestPerJob(await history.runsOfCommit(repo, head));
  const jobs: CompareData["jobs"] = [];
  for (const headRun of headRuns) {
    const baseRun = baseRuns.get(headRun.jobKey);
    if (!baseRun) continue;
    // One base run: no window to tell flaky tests, as `kto compare` of the two.
    const { comparison, unread } = await compareChanged(history, headRun, [baseRun]);
    jobs.push({
      jobKey: headRun.jobKey,
      suite: entryText(headRun, "suite"),
      arch: entryText(headRun, "arch"),
      baseJobId: baseRun.jobId,
      headJobId: headRun.jobId,
      ...classifiedView(comparison, unread),
    });
  }
  const headKeys = new Set(headRuns.map((r) => r.jobKey));
  return {
    repo,
    base,
    head,
    jobs,
    onlyBase: [...baseRuns.keys()].filter((k) => !headKeys.has(k)),
    onlyHead: [...headKeys].filter((k) => !baseRuns.has(k)),
  };
}
