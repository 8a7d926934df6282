import type { KnownIssues } from "../config/known-issues.js";
import { compareResults, comparisonExit } from "../runners/history/comparison.js";
import { onlyJobs, readResultsSet, ResultsFileError, type ResultsSet } from "../runners/history/results-set.js";
import { isFailing } from "../runners/history/test-identity.js";
import { describeComparison } from "./commands/compare.js";
import { EXIT, UsageError } from "./exit-codes.js";

/** How many unknown failures the known-issues verdict names. */
const NAMED = 10;

/**
 * A finished run judged against a baseline's results (`--baseline`): its text, and `kto
 * compare`'s exit status (1 a regression or a failing new test, 2 incomplete, else 0).
 */
export async function judgeAgainstBaseline(outDir: string, base: ResultsSet, known: KnownIssues): Promise<{ text: string; exit: number }> {
  const head = await readResultsSet(outDir);
  // The run's plan says which jobs it meant to run (`-s SUITE` picks some): the baseline's others are not missing.
  const comparison = compareResults(onlyJobs(base, new Set(head.jobs.keys())), head, { known });
  return { text: describeComparison(base.source, head.source, comparison), exit: comparisonExit(comparison) };
}

/**
 * A finished run judged by known issues alone (`--known` without `--baseline`): it passes
 * when every failing test, and every job that failed as a whole, is a known issue.
 */
export async function judgeByKnownIssues(outDir: string, known: KnownIssues): Promise<{ text: string; exit: number }> {
  const head: ResultsSet = await readResultsSet(outDir);
  const failing = [...head.cases.values()].filter((c) => isFailing(c.status));
  const unknown = failing.filter((c) => known.match(c.scope, c.path)?.expect !== "fail");
  const lines = [`kto: ${failing.length - unknown.length} of ${failing.length} failures are known issues (${known.file})`];
  for (const c of unknown.slice(0, NAMED)) lines.push(`kto: not known: ${c.id} ${c.status}`);
  if (unknown.length > NAMED) lines.push(`kto: and ${unknown.length - NAMED} more not known`);
  for (const gap of head.gaps) lines.push(`kto: not judged: ${gap.reason}`);
  return { text: `${lines.join("\n")}\n`, exit: unknown.length === 0 && head.gaps.length === 0 ? EXIT.ok : EXIT.failed };
}

/** The baseline `--baseline` names, read before anything runs: one that cannot be read is a usage error. */
export async function readBaseline(path: string): Promise<ResultsSet> {
  return readResultsSet(path).catch((error: unknown) => {
    throw error instanceof ResultsFileError ? new UsageError(`--baseline: ${error.message}`) : error;
  });
}
