import { parseResultLine, testFromResult } from "./directive.js";
import { emptyTest, MAX_NESTING, type TestCase } from "./types.js";

const PLAN = /^1\.\.(\d+)\b/;
const MARK = "# ";

/** How many `# ` marks stand before a line: kselftest's runner adds one per level of nesting. */
function depthOf(line: string): number {
  let depth = 0;
  while (line.startsWith(MARK, depth * MARK.length)) depth += 1;
  return depth;
}

interface Marked {
  text: string;
  depth: number;
}

/**
 * The subtests a test program printed behind `# ` before its own result line, as the
 * kselftest runner relays them (`# ok 1 name`, often with no version line or plan), so
 * that a failing case is named and not only the program. `parent.log` holds those lines.
 */
export function commentedSubtests(parent: TestCase, errors: string[]): TestCase[] {
  const lines: Marked[] = [];
  for (const text of parent.log) {
    const depth = depthOf(text);
    if (depth > 0) lines.push({ text, depth });
  }
  return readLevel(lines, 1, parent, errors);
}

/**
 * Reads the results `depth` marks deep. Each level sees only the lines at least that deep,
 * so a line is looked at once per mark it carries: linear in the input, however it nests.
 */
function readLevel(lines: readonly Marked[], depth: number, parent: TestCase, errors: string[]): TestCase[] {
  const strip = (some: readonly Marked[]) => some.map((line) => line.text.slice(depth * MARK.length));
  const deeper = (some: readonly Marked[]) => some.filter((line) => line.depth > depth);
  const resultAt = (line: Marked) => (line.depth === depth ? parseResultLine(line.text.slice(depth * MARK.length)) : null);
  if (depth > MAX_NESTING) {
    // A deep run of `# # # …` may be a banner; only results left unread are worth a note.
    if (lines.some((line) => resultAt(line))) errors.push(`${parent.name}: results nested deeper than ${MAX_NESTING} levels were not read`);
    return [];
  }
  const tests: TestCase[] = [];
  let plan: number | null = null;
  let pending: Marked[] = [];
  for (const line of lines) {
    const text = line.text.slice(depth * MARK.length);
    const result = resultAt(line);
    const planned = line.depth === depth && !result ? PLAN.exec(text) : null;
    if (planned) plan = Number(planned[1]);
    else if (result) {
      const test = testFromResult(result, `test ${result.number}`, strip(pending));
      test.children = readLevel(deeper(pending), depth + 1, test, errors);
      tests.push(test);
      pending = [];
    } else pending.push(line);
  }
  // Results relayed after the last result line at this depth: a subtest that never finished.
  const unfinished = emptyTest(`(test ${tests.length + 1} never reported)`, "errored");
  unfinished.reason = "the program ended before this test reported a result";
  unfinished.log = strip(pending);
  unfinished.children = readLevel(deeper(pending), depth + 1, unfinished, errors);
  if (unfinished.children.length > 0) tests.push(unfinished);
  // The program's own result line stands for it, so a short plan is only noted (which still
  // keeps the run from passing); a skipped program may stop after its plan.
  if (plan !== null && tests.length < plan && parent.status !== "skipped") {
    errors.push(`${parent.name}: planned ${plan} subtests, got ${tests.length}`);
  }
  return tests;
}
