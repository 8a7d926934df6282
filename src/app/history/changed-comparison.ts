import type { ResultHistory, ResultRun } from "../../orchestrator/store/result-history.js";
import type { ChangedCase } from "../../orchestrator/store/case-changes.js";
import { compareResults, flakyAlong, type Comparison } from "../../runners/history/comparison.js";
import { resultsSet, type CaseRecord, type ResultsJobEntry, type ResultsSet } from "../../runners/history/results-set.js";
import { identityKey, identityText, isFailing, pathText, type TestIdentity } from "../../runners/history/test-identity.js";
import type { TestStatus } from "../../runners/results/types.js";
import type { KnownScope } from "../../config/known-issues.js";

/** Changed cases of a run classified per comparison: a page never holds a run's every case, and a few thousand is any real pull request's. */
export const CHANGED_CASES_READ = 5_000;

export interface ChangedComparison {
  /** As `compareWithBaseRuns` has it for the same runs, but `duplicates`, which counts only the tests read. */
  comparison: Comparison;
  /** Changed tests past the first `limit` in the run's order: neither classified nor counted unchanged. */
  unread: number;
}

const short = (sha: string) => sha.slice(0, 7);
/** Where a case's job has no scope to match known issues by (they are not matched here). */
const NO_SCOPE: KnownScope = { suite: "", arch: "", labels: [] };

/**
 * The run's job as its full results set has it, with none of its listed cases: its gaps
 * and its own case. That case fails or passes by whether any listed case failed, so one
 * failing stand-in is listed for them and dropped.
 */
function frameOf(run: ResultRun, source: string): ResultsSet {
  const { casesOmitted, ...entry } = run.entry as Omit<ResultsJobEntry, "cases">;
  const standIn = run.failedCases > 0 ? [{ path: [], name: "", status: "failed" as const }] : [];
  const set = resultsSet(source, [{ ...entry, cases: standIn }]);
  const job = [...set.jobs.keys()][0]!;
  set.cases.delete(identityKey({ job, path: [], name: "", occurrence: 1 }));
  // The one gap worded by the number of cases listed, as results-set words it.
  if (casesOmitted && !set.unjudged.has(job))
    set.gaps.push({ job, reason: `${job} in ${source} lists ${run.caseCount} of ${run.caseCount + casesOmitted} cases` });
  return set;
}

/** The job's scope, as known issues match it: its own case has it. */
const scopeOf = (frame: ResultsSet): KnownScope => frame.cases.values().next().value?.scope ?? NO_SCOPE;

/** A case as its results set keys it: the stored key holds the identity, its occurrence among tests of one name included. */
function caseOf(key: string, status: string, scope: KnownScope): CaseRecord {
  const [job, ...rest] = JSON.parse(key) as [string, ...(string | number)[]];
  const occurrence = rest.pop() as number;
  const name = rest.pop() as string;
  const identity: TestIdentity = { job, path: rest as string[], name, occurrence };
  return { key, id: identityText(identity), identity, scope, path: pathText(identity.path, name), status: status as TestStatus };
}

const judged = (frame: ResultsSet) => frame.unjudged.size === 0;

/**
 * A run's results against base-branch runs of its job (nearest first, the flaky window
 * `flakyWindow` gives), classified as `compareWithBaseRuns` classifies them, from only the
 * cases that can differ: the run's failures, passes the baseline lacks or failed, skips it
 * passed, the baseline's tests the run lacks, and the window's results of the run's failures.
 */
export async function compareChanged(
  history: Pick<ResultHistory, "changes">,
  head: ResultRun,
  window: readonly ResultRun[],
  limit = CHANGED_CASES_READ,
): Promise<ChangedComparison> {
  const nearest = window[0] ?? null;
  const headFrame = frameOf(head, short(head.sha));
  const baseFrame = nearest ? frameOf(nearest, short(nearest.sha)) : resultsSet("no baseline", []);
  // A baseline that ended with no verdict lists no cases to compare with, nor does a run.
  const baseId = nearest && judged(baseFrame) ? nearest.id : null;
  let rows: ChangedCase[] = [];
  let unread = 0;
  const headSet: ResultsSet = { ...headFrame, cases: new Map(headFrame.cases) };
  const baseSet: ResultsSet = { ...baseFrame, cases: new Map(baseFrame.cases) };
  if (judged(headFrame)) {
    rows = await history.changes.changed(head.id, baseId, limit + 1);
    if (rows.length > limit) {
      unread = (await history.changes.countChanged(head.id, baseId)) - limit;
      rows = rows.slice(0, limit);
    }
    const [headScope, baseScope] = [scopeOf(headFrame), scopeOf(baseFrame)];
    for (const row of rows) {
      headSet.cases.set(row.key, caseOf(row.key, row.status, headScope));
      if (row.baseStatus !== null) baseSet.cases.set(row.key, caseOf(row.key, row.baseStatus, baseScope));
    }
    if (baseId !== null) {
      // The baseline's tests the run lacks, in the baseline's order: a comparison names the first that passed there.
      const gone = await history.changes.gone(baseId, head.id, limit + 1);
      for (const c of gone.slice(0, limit)) baseSet.cases.set(c.key, caseOf(c.key, c.status, baseScope));
      if (gone.length > limit)
        baseSet.gaps.push({
          job: baseSet.source,
          reason: `more than ${limit} tests of ${baseSet.source} are not in ${headSet.source}: only the first ${limit} are counted`,
        });
    }
  }
  const comparison = compareResults(baseSet, headSet, { flaky: await flakyOf(history, window, rows) });
  // Every case not read is unchanged: only those `changed` gives can be anything else.
  if (judged(headFrame)) comparison.unchanged += head.caseCount - rows.length - unread;
  return { comparison, unread };
}

/** The run's failing tests that went back and forth across the window, from the window's results of those tests alone. */
async function flakyOf(history: Pick<ResultHistory, "changes">, window: readonly ResultRun[], rows: readonly ChangedCase[]): Promise<Set<string>> {
  if (window.length <= 1) return new Set();
  const failing = rows.filter((row) => isFailing(row.status as TestStatus)).map((row) => row.key);
  const frames = new Map(window.map((run) => [run.id, frameOf(run, short(run.sha))]));
  const sets = new Map(window.map((run) => [run.id, { ...frames.get(run.id)!, cases: new Map<string, CaseRecord>() }]));
  const listing = window.filter((run) => judged(frames.get(run.id)!)).map((run) => run.id);
  for (const found of await history.changes.statusesOf(listing, failing))
    sets.get(found.runId)!.cases.set(found.key, caseOf(found.key, found.status, NO_SCOPE));
  return flakyAlong(window.map((run) => ({ commit: run.sha, set: sets.get(run.id)! })));
}
