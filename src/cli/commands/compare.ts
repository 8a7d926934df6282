import { ConfigError } from "../../config/errors.js";
import { KnownIssues, loadKnownIssues } from "../../config/known-issues.js";
import { compareResults, comparisonExit, flakyAcross, TEST_CLASSES, type Comparison, type TestClass } from "../../runners/history/comparison.js";
import { knownIssuesPassing, KNOWN_PASSES_TO_REMOVE, type KnownPassing } from "../../runners/history/known-streaks.js";
import { readResultsSet, ResultsFileError } from "../../runners/history/results-set.js";
import { oneLine } from "../../runners/report/terminal-text.js";
import { EXIT } from "../exit-codes.js";
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

/**
 * Exit 1 with a regression (or a new test that fails), 2 when the answer is incomplete or
 * the inputs cannot be read, else 0. Whatever goes wrong inside is 2, never 1: a script
 * gating on this must not read a crash as a regression.
 */
export async function compareCommand(base: string, head: string, options: CompareCommandOptions): Promise<number> {
  try {
    return await compare(base, head, options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    printErr(`kto compare: ${error instanceof ResultsFileError ? error.message : ((error as Error).stack ?? String(error))}\n`);
    return EXIT.usage;
  }
}

async function compare(base: string, head: string, options: CompareCommandOptions): Promise<number> {
  const [baseSet, headSet, ...history] = await Promise.all([base, head, ...(options.history ?? [])].map(readResultsSet));
  // Only a file named on the command line: in a pull request's checkout, a file found there is the pull request's.
  const known = options.known ? await loadKnownIssues(options.known, true) : KnownIssues.none();
  const flaky = history.length ? flakyAcross([baseSet!, ...history]) : new Set<string>();
  const comparison = compareResults(baseSet!, headSet!, { known, flaky });
  // The base and its history are the base branch's runs, newest first as given.
  const knownPassing = knownIssuesPassing(
    known,
    [baseSet!, ...history].map((set, i) => ({ commit: String(i), set })),
  );
  const exit = comparisonExit(comparison);
  if (options.json) {
    printOut(
      `${JSON.stringify({ base: baseSet!.source, head: headSet!.source, known: options.known ?? null, exit, ...comparison, knownPassing: knownPassing.issues, knownUnchecked: knownPassing.unchecked }, null, 2)}\n`,
    );
    return exit;
  }
  printOut(describeComparison(baseSet!.source, headSet!.source, comparison, knownPassing));
  return exit;
}

export function describeComparison(base: string, head: string, c: Comparison, knownPassing?: KnownPassing): string {
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  const lines = [
    `kto compare: ${oneLine(base)} → ${oneLine(head)}`,
    `${n(c.counts.new, "regression")}, ${c.counts.still_failing} still failing, ${c.counts.flaky} flaky, ${c.counts.known} known, ${n(c.counts.new_test, "new test")} (${c.failingNewTests} failing), ${c.counts.fixed} fixed; ${c.unchanged} unchanged, ${c.removed} no longer run`,
  ];
  const list = (items: readonly string[]) => {
    for (const item of items.slice(0, LISTED_PER_CLASS)) lines.push(`  ${oneLine(item)}`);
    if (items.length > LISTED_PER_CLASS) lines.push(`  and ${items.length - LISTED_PER_CLASS} more (--json lists them all)`);
  };
  for (const cls of TEST_CLASSES) {
    const tests = c.tests.filter((t) => t.class === cls);
    if (tests.length === 0) continue;
    lines.push("", `${HEADINGS[cls]}: ${tests.length}`);
    list(tests.map((t) => `${t.id}: ${t.base ?? "absent"} → ${t.head}${t.known?.link ? ` (${t.known.link})` : ""}`));
  }
  if (c.nowSkipped.length) {
    lines.push("", `passed on the baseline, skipped now (no known issue expects it): ${c.nowSkipped.length}`);
    list(c.nowSkipped);
  }
  if (c.knownNowPassing.length) {
    lines.push("", "known issues whose test passes now (remove them, or mark them intermittent):");
    list(c.knownNowPassing.map((k) => `entry ${k.entry + 1}${k.link ? ` (${k.link})` : ""}: ${k.test}`));
  }
  if (knownPassing?.issues.length) {
    lines.push("", `known issues whose tests passed in each of the last ${KNOWN_PASSES_TO_REMOVE} or more base runs given (remove them):`);
    list(knownPassing.issues.map((k) => `entry ${k.entry + 1}${k.link ? ` (${k.link})` : ""}: ${k.commits} runs, such as ${k.tests.join(", ")}`));
  }
  if (knownPassing?.unchecked)
    lines.push("", `${n(knownPassing.unchecked, "known issue")} not checked for a run of passes: globs starting with * over too many tests`);
  if (c.duplicates) lines.push("", `${n(c.duplicates, "test")} had the names of another test in the same job; told apart as (#2), (#3)… in the order they ran`);
  if (c.incomplete.length) {
    lines.push("", "incomplete: these results cannot be compared in full:");
    list(c.incomplete);
  }
  return `${lines.join("\n")}\n`;
}
