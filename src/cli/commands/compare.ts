import { access } from "node:fs/promises";
import { KNOWN_ISSUES_PATH, KnownIssues, loadKnownIssues } from "../../config/known-issues.js";
import { compareResults, comparisonExit, flakyAcross, TEST_CLASSES, type Comparison, type TestClass } from "../../runners/history/comparison.js";
import { readResultsSet, ResultsFileError } from "../../runners/history/results-set.js";
import { oneLine } from "../../runners/report/terminal-text.js";
import { UsageError } from "../exit-codes.js";
import { printErr, printOut } from "../terminal.js";

/** How many tests of each class the text lists; `--json` lists them all. */
const LISTED_PER_CLASS = 50;

const HEADINGS: Record<TestClass, string> = {
  new: "new failures (regressions: passed on the baseline)",
  still_failing: "still failing (failed on the baseline too)",
  flaky: "flaky (passed and failed on the base branch lately)",
  known: "known issues",
  new_test: "new tests (no result on the baseline)",
  fixed: "fixed (failed on the baseline, pass now)",
};

export interface CompareCommandOptions {
  json?: boolean;
  known?: string;
  history?: string[];
}

/** Exit 1 with a regression, 2 when the answer is incomplete (an infrastructure fault, a missing job), else 0. */
export async function compareCommand(base: string, head: string, options: CompareCommandOptions): Promise<number> {
  const read = (path: string) =>
    readResultsSet(path).catch((error: unknown) => {
      throw error instanceof ResultsFileError ? new UsageError(error.message) : error;
    });
  const [baseSet, headSet, ...history] = await Promise.all([read(base), read(head), ...(options.history ?? []).map(read)]);
  const known = await knownIssuesFor(options.known);
  const flaky = history.length ? flakyAcross([baseSet, ...history]) : new Set<string>();
  const comparison = compareResults(baseSet, headSet, { known, flaky });
  const exit = comparisonExit(comparison);
  if (options.json) {
    printOut(
      `${JSON.stringify({ base: baseSet.source, head: headSet.source, known: known.entries.length ? known.file : null, exit, ...comparison }, null, 2)}\n`,
    );
    return exit;
  }
  printOut(describe(baseSet.source, headSet.source, comparison));
  if (known.entries.length) printErr(`kto: known issues from ${known.file} (${known.entries.length})\n`);
  return exit;
}

async function knownIssuesFor(file: string | undefined): Promise<KnownIssues> {
  if (file) return loadKnownIssues(file, true);
  const present = await access(KNOWN_ISSUES_PATH).then(
    () => true,
    () => false,
  );
  return present ? loadKnownIssues(KNOWN_ISSUES_PATH, true) : KnownIssues.none();
}

export function describe(base: string, head: string, c: Comparison): string {
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  const lines = [
    `kto compare: ${base} → ${head}`,
    `${n(c.counts.new, "regression")}, ${c.counts.still_failing} still failing, ${c.counts.flaky} flaky, ${c.counts.known} known, ${n(c.counts.new_test, "new test")}, ${c.counts.fixed} fixed; ${c.unchanged} unchanged, ${c.removed} no longer run`,
  ];
  for (const cls of TEST_CLASSES) {
    const tests = c.tests.filter((t) => t.class === cls);
    if (tests.length === 0) continue;
    lines.push("", `${HEADINGS[cls]}: ${tests.length}`);
    for (const t of tests.slice(0, LISTED_PER_CLASS)) {
      const link = t.known?.link ? ` (${t.known.link})` : "";
      lines.push(`  ${oneLine(t.id)}: ${t.base ?? "absent"} → ${t.head}${link}`);
    }
    if (tests.length > LISTED_PER_CLASS) lines.push(`  and ${tests.length - LISTED_PER_CLASS} more (--json lists them all)`);
  }
  if (c.duplicates) lines.push("", `${n(c.duplicates, "test")} had the identity of another test in the same run; told apart by a (2), (3)… suffix`);
  if (c.incomplete.length) {
    lines.push("", "incomplete: these results cannot be compared in full:");
    for (const why of c.incomplete.slice(0, LISTED_PER_CLASS)) lines.push(`  ${oneLine(why)}`);
    if (c.incomplete.length > LISTED_PER_CLASS) lines.push(`  and ${c.incomplete.length - LISTED_PER_CLASS} more`);
  }
  return `${lines.join("\n")}\n`;
}
