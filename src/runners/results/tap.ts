import { parse as parseYaml } from "yaml";
import { consoleLines } from "./console-text.js";
import { parseResultLine, testFromResult } from "./directive.js";
import { emptyTest, finish, type ParsedResults, type TestCase } from "./types.js";

const PLAN = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/;
const BAIL_OUT = /^Bail out!\s*(.*)$/;
const SUBTEST = /^# Subtest:?\s*(.*)$/;

/**
 * Reads TAP 13 and TAP 14: subtests are indented four spaces (TAP 14), a YAML block
 * (`---` … `...`) after a result carries its details, `Bail out!` ends the run.
 */
export function parseTap(text: string): ParsedResults {
  const state: State = { lines: consoleLines(text), index: 0, errors: [], bailed: false };
  const tests = parseBlock(state, 0, "the run");
  return finish("tap", tests, state.errors);
}

interface State {
  lines: string[];
  index: number;
  errors: string[];
  bailed: boolean;
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
    if (lineIndent >= indent + 4 && !raw.trim().startsWith("---")) {
      pendingChildren = parseBlock(state, lineIndent, subtestName ?? "a subtest");
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
      if (pendingChildren) test.children = pendingChildren;
      readYamlBlock(state, indent, test);
      tests.push(test);
      pendingLog = [];
      pendingChildren = null;
      subtestName = null;
      continue;
    }
    if (/^(K?TAP version|pragma)\b/.test(line)) continue;
    pendingLog.push(line);
  }

  if (pendingChildren) {
    const test = emptyTest(subtestName ?? "(unnamed subtest)", "errored");
    test.reason = "no result line: the subtest did not finish";
    test.children = pendingChildren;
    test.log = pendingLog;
    tests.push(test);
    state.errors.push(`${test.name}: no result line`);
  }
  if (plan !== null && tests.length < plan) {
    for (let missing = tests.length + 1; missing <= plan; missing++) {
      const test = emptyTest(`(test ${missing} never reported)`, "errored");
      test.reason = state.bailed ? "the run bailed out first" : "output ended before this test reported a result";
      tests.push(test);
    }
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
  const body: string[] = [];
  let index = state.index + 1;
  for (; index < state.lines.length; index++) {
    const line = state.lines[index]!;
    if (line.trim() === "..." && indentOf(line) === yamlIndent) break;
    body.push(line.slice(Math.min(yamlIndent, indentOf(line))));
  }
  if (index >= state.lines.length) return; // not a closed block: leave it as text
  state.index = index + 1;
  let data: unknown;
  try {
    data = parseYaml(body.join("\n"));
  } catch {
    test.log.push(...body);
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
  test.log.push(...body.map((l) => l.trimEnd()));
}
