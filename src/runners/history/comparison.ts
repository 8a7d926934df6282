import type { KnownIssue, KnownIssues } from "../../config/known-issues.js";
import type { TestStatus } from "../results/types.js";
import { JOB_CASE, type CaseRecord, type ResultsSet } from "./results-set.js";
import { isFailing, type TestIdentity } from "./test-identity.js";

/**
 * What a test's result is next to its baseline's, in the order a report leads with them:
 * `new` failed and passed on the baseline (a regression); `still_failing` failed there too;
 * `flaky` has both passed and failed on the base branch lately; `known` is covered by a
 * known issue; `new_test` has no result on the baseline to compare with (absent, or
 * skipped there); `fixed` failed on the baseline and passes now.
 */
export const TEST_CLASSES = ["new", "still_failing", "flaky", "known", "new_test", "fixed"] as const;
export type TestClass = (typeof TEST_CLASSES)[number];

/** How many tests a note about missing or newly skipped tests names; the count covers the rest. */
const NAMED = 5;

export interface ClassifiedTest {
  /** `job › suite › case`, as shown. */
  id: string;
  identity: TestIdentity;
  class: TestClass;
  base: TestStatus | null;
  head: TestStatus;
  known?: { entry: number; link?: string; expect: KnownIssue["expect"] };
}

export interface Comparison {
  /** Every test that is not simply as it was, in TEST_CLASSES order, then by identity. */
  tests: ClassifiedTest[];
  counts: Record<TestClass, number>;
  /** New tests that fail: a change that adds a failing test (or a job that cannot boot) is not green either. */
  failingNewTests: number;
  /** Tests that passed on both sides, or were skipped on both. */
  unchanged: number;
  /** Tests that passed on the baseline and are skipped now, which no known issue expects. */
  nowSkipped: string[];
  /** Tests the baseline had in a job the head also ran, and the head does not have. */
  removed: number;
  /** Why the answer does not cover everything: infrastructure faults, missing jobs, tests that passed and did not run. */
  incomplete: string[];
  /** Tests that had another's identity, on either side. */
  duplicates: number;
  /** Known issues (not intermittent) whose failing test passes now: each may be ready to go. */
  knownNowPassing: { entry: number; link?: string; test: string }[];
}

export interface CompareOptions {
  known?: KnownIssues;
  /** Identity keys that both passed and failed on the base branch lately. */
  flaky?: ReadonlySet<string>;
}

/**
 * Classifies each of `head`'s tests against `base`. A failure is a regression only where
 * the baseline has the same test passing; what was failing there, flaky, or known is
 * reported but is not one.
 */
export function compareResults(base: ResultsSet, head: ResultsSet, options: CompareOptions = {}): Comparison {
  const counts = Object.fromEntries(TEST_CLASSES.map((c) => [c, 0])) as Record<TestClass, number>;
  const tests: ClassifiedTest[] = [];
  const nowSkipped: string[] = [];
  const knownNowPassing: Comparison["knownNowPassing"] = [];
  let unchanged = 0;
  let failingNewTests = 0;
  for (const test of head.cases.values()) {
    const before = base.cases.get(test.key)?.status ?? null;
    if (before === "passed" && test.status === "skipped") {
      if (options.known?.match(test.scope, test.path)?.expect !== "skip") nowSkipped.push(test.id);
      unchanged += 1;
      continue;
    }
    const classified = classify(test, before, options);
    if (classified === null) {
      unchanged += 1;
      continue;
    }
    counts[classified.class] += 1;
    if (classified.class === "new_test" && isFailing(test.status)) failingNewTests += 1;
    if (classified.class === "fixed") {
      const known = options.known?.match(test.scope, test.path);
      if (known && known.expect === "fail" && !known.intermittent)
        knownNowPassing.push({ entry: known.index, ...(known.link ? { link: known.link } : {}), test: test.id });
    }
    tests.push(classified);
  }
  const order = new Map(TEST_CLASSES.map((c, i) => [c, i]));
  tests.sort((a, b) => order.get(a.class)! - order.get(b.class)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const incomplete = [...base.gaps, ...head.gaps].map((gap) => gap.reason);
  for (const job of base.jobs.keys()) if (!head.jobs.has(job)) incomplete.push(`${job} ran in ${base.source} and not in ${head.source}`);
  // A test that passed and is gone from a job that still ran may have been hidden by what broke.
  let removed = 0;
  const missing = new Map<string, string[]>();
  for (const test of base.cases.values()) {
    if (head.cases.has(test.key) || !head.jobs.has(test.identity.job) || head.unjudged.has(test.identity.job)) continue;
    removed += 1;
    if (test.status !== "passed") continue;
    const list = missing.get(test.identity.job) ?? [];
    list.push(test.id);
    missing.set(test.identity.job, list);
  }
  for (const [job, ids] of missing)
    incomplete.push(
      `${ids.length} test${ids.length === 1 ? "" : "s"} that passed in ${base.source} did not run in ${job} of ${head.source}: ${ids.slice(0, NAMED).join(", ")}${ids.length > NAMED ? ", …" : ""}`,
    );
  return { tests, counts, failingNewTests, unchanged, nowSkipped, removed, incomplete, duplicates: base.duplicates + head.duplicates, knownNowPassing };
}

function classify(test: CaseRecord, base: TestStatus | null, options: CompareOptions): ClassifiedTest | null {
  const of = (cls: TestClass, known?: KnownIssue | null): ClassifiedTest => ({
    id: test.id,
    identity: test.identity,
    class: cls,
    base,
    head: test.status,
    ...(known ? { known: { entry: known.index, ...(known.link ? { link: known.link } : {}), expect: known.expect } } : {}),
  });
  const wasFailing = base !== null && isFailing(base);
  if (isFailing(test.status)) {
    const known = options.known?.match(test.scope, test.path);
    if (known?.expect === "fail") return of("known", known);
    if (options.flaky?.has(test.key)) return of("flaky");
    if (base === null || base === "skipped") return of("new_test");
    return of(wasFailing ? "still_failing" : "new");
  }
  if (test.status === "passed") {
    if (wasFailing) return of("fixed");
    if (base === null) return of("new_test");
  }
  return null;
}

/**
 * Identity keys whose results disagree across `runs` of the base branch: the test passed
 * in one and failed in another. A job's own case is left out: one run that timed out says
 * nothing about how the next one ends.
 */
export function flakyAcross(runs: readonly ResultsSet[]): Set<string> {
  const seen = new Map<string, { passed: boolean; failed: boolean }>();
  for (const run of runs)
    for (const test of run.cases.values()) {
      if (test.identity.name === JOB_CASE && test.identity.path.length === 0) continue;
      const s = seen.get(test.key) ?? { passed: false, failed: false };
      if (test.status === "passed") s.passed = true;
      if (isFailing(test.status)) s.failed = true;
      seen.set(test.key, s);
    }
  return new Set([...seen].filter(([, s]) => s.passed && s.failed).map(([key]) => key));
}

/**
 * `kto compare`'s exit status, as kci-dev's gate answers: 1 for a regression or a new test
 * that fails (one found is found, whatever else is missing), else 2 when the answer is
 * incomplete, else 0.
 */
export function comparisonExit(comparison: Comparison): 0 | 1 | 2 {
  if (comparison.counts.new > 0 || comparison.failingNewTests > 0) return 1;
  return comparison.incomplete.length > 0 ? 2 : 0;
}

/**
 * Identity keys a branch's recent runs call flaky: two runs of one commit that disagree, or a
 * test that went from passing to failing and back (two changes or more) along the commits.
 * One change is a break or a fix, not flakiness: a test fixed three commits ago and broken
 * again now is a regression. `runs` are in commit order, either way round.
 */
export function flakyAlong(runs: readonly { commit: string; set: ResultsSet }[]): Set<string> {
  const seen = new Map<string, { last: boolean | null; changes: number; byCommit: Map<string, boolean>; flaky: boolean }>();
  for (const { commit, set } of runs)
    for (const test of set.cases.values()) {
      if (test.identity.name === JOB_CASE && test.identity.path.length === 0) continue;
      const failing = isFailing(test.status);
      if (!failing && test.status !== "passed") continue;
      const s = seen.get(test.key) ?? { last: null, changes: 0, byCommit: new Map<string, boolean>(), flaky: false };
      const atCommit = s.byCommit.get(commit);
      if (atCommit !== undefined && atCommit !== failing) s.flaky = true;
      s.byCommit.set(commit, failing);
      if (s.last !== null && s.last !== failing) s.changes += 1;
      s.last = failing;
      if (s.changes >= 2) s.flaky = true;
      seen.set(test.key, s);
    }
  return new Set([...seen].filter(([, s]) => s.flaky).map(([key]) => key));
}
