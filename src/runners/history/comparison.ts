import type { KnownIssue, KnownIssues } from "../../config/known-issues.js";
import type { TestStatus } from "../results/types.js";
import type { CaseRecord, ResultsSet } from "./results-set.js";
import { isFailing } from "./test-identity.js";

/**
 * What a test's result is next to its baseline's, in the order a report leads with them:
 * `new` failed and passed on the baseline (a regression); `still_failing` failed there too;
 * `flaky` has both passed and failed on the base branch lately; `known` is covered by a
 * known issue; `new_test` has no result on the baseline to compare with (absent, or
 * skipped there); `fixed` failed on the baseline and passes now.
 */
export const TEST_CLASSES = ["new", "still_failing", "flaky", "known", "new_test", "fixed"] as const;
export type TestClass = (typeof TEST_CLASSES)[number];

export interface ClassifiedTest {
  id: string;
  job: string;
  class: TestClass;
  base: TestStatus | null;
  head: TestStatus;
  known?: { entry: number; link?: string; expect: KnownIssue["expect"] };
}

export interface Comparison {
  /** Every test that is not simply as it was, in TEST_CLASSES order, then by identity. */
  tests: ClassifiedTest[];
  counts: Record<TestClass, number>;
  /** Tests that passed (or were skipped) on both sides. */
  unchanged: number;
  /** Tests the baseline had and the head does not. */
  removed: number;
  /** Why the answer does not cover everything: infrastructure faults, missing jobs, cases not listed. */
  incomplete: string[];
  /** Tests that had another's identity, on either side. */
  duplicates: number;
}

export interface CompareOptions {
  known?: KnownIssues;
  /** Identities that both passed and failed on the base branch lately. */
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
  let unchanged = 0;
  for (const test of head.cases.values()) {
    const before = base.cases.get(test.id)?.status ?? null;
    const classified = classify(test, before, options);
    if (classified === null) {
      unchanged += 1;
      continue;
    }
    counts[classified.class] += 1;
    tests.push(classified);
  }
  const order = new Map(TEST_CLASSES.map((c, i) => [c, i]));
  tests.sort((a, b) => order.get(a.class)! - order.get(b.class)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let removed = 0;
  for (const id of base.cases.keys()) if (!head.cases.has(id)) removed += 1;
  const incomplete = [...base.gaps, ...head.gaps];
  for (const job of base.jobs.keys()) if (!head.jobs.has(job)) incomplete.push(`${job} ran in ${base.source} and not in ${head.source}`);
  return { tests, counts, unchanged, removed, incomplete, duplicates: base.duplicates + head.duplicates };
}

function classify(test: CaseRecord, base: TestStatus | null, options: CompareOptions): ClassifiedTest | null {
  const of = (cls: TestClass, known?: KnownIssue): ClassifiedTest => ({
    id: test.id,
    job: test.job,
    class: cls,
    base,
    head: test.status,
    ...(known ? { known: { entry: known.index, ...(known.link ? { link: known.link } : {}), expect: known.expect } } : {}),
  });
  const wasFailing = base !== null && isFailing(base);
  if (isFailing(test.status)) {
    const known = options.known?.match(test.scope, test.path);
    if (known?.expect === "fail") return of("known", known);
    if (options.flaky?.has(test.id)) return of("flaky");
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
 * Identities whose results disagree across `runs` of the base branch: the test passed in
 * one and failed in another.
 */
export function flakyAcross(runs: readonly ResultsSet[]): Set<string> {
  const seen = new Map<string, { passed: boolean; failed: boolean }>();
  for (const run of runs)
    for (const test of run.cases.values()) {
      const s = seen.get(test.id) ?? { passed: false, failed: false };
      if (test.status === "passed") s.passed = true;
      if (isFailing(test.status)) s.failed = true;
      seen.set(test.id, s);
    }
  return new Set([...seen].filter(([, s]) => s.passed && s.failed).map(([id]) => id));
}

/**
 * `kto compare`'s exit status, as kci-dev's gate answers: 1 for a regression (one found is
 * found, whatever else is missing), else 2 when the answer is incomplete, else 0.
 */
export function comparisonExit(comparison: Comparison): 0 | 1 | 2 {
  if (comparison.counts.new > 0) return 1;
  return comparison.incomplete.length > 0 ? 2 : 0;
}
