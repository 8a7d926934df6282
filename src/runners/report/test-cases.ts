import { boundedPart, isFailing } from "../history/test-identity.js";
import type { ParsedResults, TestCase, TestStatus } from "../results/types.js";

/**
 * The most cases one job's entry in results.json lists. A run that printed more (a fuzzer
 * that names every input) lists these and counts the rest, and a comparison that meets a
 * count it cannot see into says its answer is incomplete.
 */
export const MAX_CASES_PER_JOB = 100_000;

/**
 * The case that stands for a level of the results itself (a KTAP suite, a kselftest
 * program): it fails when the level failed and none of its own cases did (a case that
 * crashed before printing its result, a program killed by its timeout), so that failure is
 * compared too.
 */
export const LEVEL_CASE = "(suite)";

/** One result, as history keeps it. */
export interface CaseResult {
  path: string[];
  name: string;
  status: TestStatus;
  durationMs?: number;
}

export function caseResults(results: ParsedResults | null): { cases: CaseResult[]; casesOmitted: number } {
  const cases: CaseResult[] = [];
  let omitted = 0;
  const add = (c: CaseResult) => {
    if (cases.length < MAX_CASES_PER_JOB) cases.push(c);
    else omitted += 1;
  };
  /** Adds the cases under `tests`; whether any of them failed. */
  const visit = (tests: readonly TestCase[], path: string[]): boolean => {
    let anyFailed = false;
    for (const test of tests) {
      if (test.children.length === 0) {
        add({ path, name: boundedPart(test.name), status: test.status, ...(test.durationMs !== undefined ? { durationMs: test.durationMs } : {}) });
        anyFailed ||= isFailing(test.status);
        continue;
      }
      const inner = [...path, boundedPart(test.name)];
      const childFailed = visit(test.children, inner);
      const unexplained = isFailing(test.status) && !childFailed;
      add({ path: inner, name: LEVEL_CASE, status: unexplained ? test.status : "passed" });
      anyFailed ||= childFailed || unexplained;
    }
    return anyFailed;
  };
  if (results) visit(results.tests, []);
  return { cases, casesOmitted: omitted };
}

/**
 * The most a job's cases take as JSON in the report its runner sends the App, which reads at
 * most 5 MB of one: the rest of the report keeps its room, and a job that printed more sends
 * its first cases and the count of the others, so the App's comparison says it is incomplete.
 */
export const REPORTED_CASES_BYTES = 3 * 1024 * 1024;

/** The first of `cases` whose JSON fits in `bytes`, and how many were left out (with those `omitted` before). */
export function casesWithin(cases: readonly CaseResult[], omitted: number, bytes = REPORTED_CASES_BYTES): { cases: CaseResult[]; casesOmitted: number } {
  let used = 2;
  let kept = 0;
  for (const c of cases) {
    used += Buffer.byteLength(JSON.stringify(c)) + 1;
    if (used > bytes) break;
    kept += 1;
  }
  return { cases: cases.slice(0, kept), casesOmitted: omitted + cases.length - kept };
}
