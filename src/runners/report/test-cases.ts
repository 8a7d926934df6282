import { boundedPart } from "../history/test-identity.js";
import { leaves, type ParsedResults, type TestStatus } from "../results/types.js";

/**
 * The most cases one job's entry in results.json lists. A run that printed more (a fuzzer
 * that names every input) lists these and counts the rest, and a comparison that meets a
 * count it cannot see into says its answer is incomplete.
 */
export const MAX_CASES_PER_JOB = 100_000;

/** One leaf test's result, as history keeps it. */
export interface CaseResult {
  path: string[];
  name: string;
  status: TestStatus;
  durationMs?: number;
}

export function caseResults(results: ParsedResults | null): { cases: CaseResult[]; casesOmitted: number } {
  const all = results ? leaves(results.tests) : [];
  const cases = all.slice(0, MAX_CASES_PER_JOB).map((t) => ({
    path: t.path.map(boundedPart),
    name: boundedPart(t.name),
    status: t.status,
    ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}),
  }));
  return { cases, casesOmitted: all.length - cases.length };
}
