import { parse as parseYaml } from "yaml";
import { commentedSubtests } from "./commented.js";
import { consoleLines } from "./console-text.js";
import { parseResultLine, testFromResult } from "./directive.js";
import { emptyTest, finish, MAX_NESTING, placeholderBudget, unreported, type Budget, type ParsedResults, type TestCase } from "./types.js";

// `s` where a pattern ends in `.*$`: see directive.ts.
const PLAN = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/s;
const BAIL_OUT = /^Bail out!\s*(.*)$/s;
const SUBTEST = /^# Subtest:?\s*(.*)$/s;
const IGNORED = /^(K?TAP version|pragma)\b/i;

/**
 * Reads TAP 13 and TAP 14: subtests are indented four spaces (TAP 14), a YAML block
 * (`---` … `...`) after a result carries its details, `Bail out!` ends the run.
 */
export function parseTap(text: string): ParsedResults {
  const state: State = {
    lines: consoleLines(text),
    index: 0,
    errors: [],
    bailed: false,
    depth: 0,
    tooDeep: false,
    unclosedYaml: new Map(),
    budget: placeholderBudget(),
  };
  const tests = parseBlock(state, 0, "the run");
  return finish("tap", tests, state.errors);
}

interface State {
  lines: string[];
  index: number;
  errors: string[];
  bailed: boolean;
  /** Blocks open around the current line. */
  depth: number;
  tooDeep: boolean;
  /**
   * For a YAML indentation, the earliest line from which no closing `...` follows: every
   * result line after it would scan to the end again, quadratic in unclosed `---` lines.
   */
  unclosedYaml: Map<number, number>;
  budget: Budget;
}

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

function parseBlock(state: State, indent: number, owner: string): TestCase[] {
  const tests: TestCase[] = [];
  let plan: number | null = null;
  let skipAllReason: string | null = null;
  let pendingLog: string[] = [];
  let pendingChildren: TestCase[] | null = null;
  let subtestName: string | null = null;

  while (state.index < state.lines.length && !state.bailed) {
    const raw = state.lines[state.index]!;
    if (raw.trim() === "") {
      state.index += 1;
      continue;
    }
    const lineIndent = indentOf(raw);
    if (lineIndent < indent) break;
    if (lineIndent >= indent + 4 && !raw.trim().startsWith("---") && canNest(state)) {
      state.depth += 1;
      const block = parseBlock(state, lineIndent, subtestName ?? "a subtest");
      state.depth -= 1;
      // A block of only text (a wrapped, indented console line) is no subtest; and two blocks
      // with no result line between them mean the first lost its line: keep its results.
      if (block.length > 0) pendingChildren = pendingChildren ? pendingChildren.concat(block) : block;
      continue;
    }
    const line = raw.trim();
    state.index += 1;
    const bail = BAIL_OUT.exec(line);
    if (bail) {
      state.bailed = true;
      state.errors.push(`bailed out${bail[1] ? `: ${bail[1]}` : ""}`);
      break;
    }
    const planMatch = PLAN.exec(line);
    if (planMatch) {
      plan = Number(planMatch[1]);
      if (plan === 0 && planMatch[2]) skipAllReason = planMatch[2].replace(/^SKIP\S*\s*/i, "");
      continue;
    }
    const subtest = SUBTEST.exec(line);
    if (subtest) {
      subtestName = subtest[1]!.trim() || null;
      continue;
    }
    const result = parseResultLine(line);
    if (result) {
      const test = testFromResult(result, subtestName ?? `test ${result.number}`, pendingLog);
      test.children = pendingChildren ?? commentedSubtests(test, state.errors);
      readYamlBlock(state, indent, test);
      tests.push(test);
      pendingLog = [];
      pendingChildren = null;
      subtestName = null;
      continue;
    }
    if (IGNORED.test(line)) continue;
    pendingLog.push(line);
  }

  if (plan !== null && tests.length > plan) state.errors.push(`${owner}: planned ${plan} tests, got ${tests.length}`);
  // Output that ends inside a subtest still shows the results it printed, indented or behind `# `.
  const unfinished = emptyTest(subtestName ?? `(test ${tests.length + 1} never reported)`, "errored");
  unfinished.reason = "no result line: the subtest did not finish";
  unfinished.log = pendingLog;
  unfinished.children = pendingChildren ?? commentedSubtests(unfinished, state.errors);
  if (pendingChildren || unfinished.children.length > 0) {
    tests.push(unfinished);
    state.errors.push(`${unfinished.name}: no result line`);
  }
  if (plan !== null && tests.length < plan) {
    const reason = state.bailed ? "the run bailed out first" : "output ended before this test reported a result";
    for (const test of unreported(tests.length + 1, plan, reason, state.budget)) tests.push(test);
    state.errors.push(`${owner}: planned ${plan} tests, got fewer`);
  }
  if (plan === 0 && skipAllReason !== null && tests.length === 0) {
    const test = emptyTest(owner, "skipped");
    test.reason = skipAllReason;
    test.directive = "skip";
    if (indent > 0) tests.push(test);
  }
  return tests;
}

function readYamlBlock(state: State, indent: number, test: TestCase): void {
  const start = state.lines[state.index];
  if (start === undefined || start.trim() !== "---" || indentOf(start) < indent) return;
  const yamlIndent = indentOf(start);
  if ((state.unclosedYaml.get(yamlIndent) ?? Infinity) <= state.index) return;
  const body: string[] = [];
  let index = state.index + 1;
  for (; index < state.lines.length; index++) {
    const line = state.lines[index]!;
    if (line.trim() === "..." && indentOf(line) === yamlIndent) break;
    body.push(line.slice(Math.min(yamlIndent, indentOf(line))));
  }
  if (index >= state.lines.length) {
    state.unclosedYaml.set(yamlIndent, state.index); // not a closed block: leave it as text
    return;
  }
  state.index = index + 1;
  let data: unknown;
  try {
    data = parseYaml(body.join("\n"));
  } catch {
    // Not YAML after all: the block is kept as the test's log, as written.
    for (const line of body) test.log.push(line);
    return;
  }
  if (!data || typeof data !== "object") return;
  const fields = data as Record<string, unknown>;
  if (typeof fields.message === "string" && !test.reason) test.reason = fields.message;
  const duration = fields.duration_ms ?? fields.duration;
  if (typeof duration === "number") test.durationMs = duration;
  const at = fields.at as Record<string, unknown> | undefined;
  const file = (at?.file ?? fields.file) as unknown;
  const line = (at?.line ?? fields.line) as unknown;
  if (typeof file === "string" && typeof line === "number") test.location = { file, line };
  for (const line of body) test.log.push(line.trimEnd());
}

function canNest(state: State): boolean {
  if (state.depth < MAX_NESTING) return true;
  if (!state.tooDeep) state.errors.push(`tests nested deeper than ${MAX_NESTING} levels were read one level up`);
  state.tooDeep = true;
  return false;
}
