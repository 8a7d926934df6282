import { commentedSubtests } from "./commented.js";
import { consoleLines } from "./console-text.js";
import { parseResultLine, testFromResult } from "./directive.js";
import { emptyTest, finish, MAX_NESTING, placeholderBudget, unreported, type ParsedResults, type TestCase } from "./types.js";

/** The first version line, behind whatever prefix the console puts before every line. */
const FIRST_VERSION = /(K?TAP version \d+)\s*$/i;
/** Later ones, prefix stripped: kselftest's relayed `# TAP version 13` is text, not a header. */
const VERSION = /^\s*K?TAP version \d+\s*$/i;
// `s` where a pattern ends in `.*$`: see directive.ts.
const SUBTEST = /^\s*# Subtest: (.*)$/s;
const PLAN = /^\s*1\.\.(\d+)\s*(?:#.*)?$/s;
const TIMESTAMP_PREFIX = /^\s*\[\s*\d+\.\d+\](?:\[\s*[A-Z]?\d+\])?\s?/;
const FAILURE_AT = /(?:EXPECTATION|ASSERTION) FAILED at (\S+?):(\d+)/;
const CRASHED = /kunit test case crashed!/;

interface Line {
  text: string;
  indent: number;
}

/**
 * Reads KTAP (and the kernel's older TAP 14 flavour) from a console, as kunit_tool does:
 * the first version line may sit anywhere, the prefix before it (a timestamp, `[T1]`, a
 * firmware escape) is stripped from every later line, unrelated kernel lines become the
 * log of the test that was running, and output cut short leaves the unfinished test errored.
 */
export function parseKtap(text: string): ParsedResults {
  const lines = consoleLines(text);
  const start = lines.findIndex((line) => FIRST_VERSION.test(line));
  if (start < 0) return finish("ktap", [], []);
  const version = FIRST_VERSION.exec(lines[start]!)!;
  const strip = prefixStripper(version.input.slice(0, version.index));
  const body = lines.slice(start + 1).map((line) => {
    const text = strip(line);
    return { text, indent: indentOf(text) };
  });
  // The document starts here whatever the stripper leaves of this line.
  body.unshift({ text: version[1]!, indent: 0 });
  const parser = new KtapParser(body);
  return finish("ktap", parser.parseAll(), parser.errors);
}

function prefixStripper(prefix: string): (line: string) => string {
  if (prefix.trim() === "") return (line) => line;
  if (TIMESTAMP_PREFIX.test(prefix)) return (line) => line.replace(TIMESTAMP_PREFIX, "");
  return (line) => (line.startsWith(prefix) ? line.slice(prefix.length) : line);
}

function indentOf(text: string): number {
  let width = 0;
  for (const ch of text) {
    if (ch === " ") width += 1;
    else if (ch === "\t") width += 4;
    else break;
  }
  return width;
}

class KtapParser {
  readonly errors: string[] = [];
  private index = 0;
  private depth = 0;
  private tooDeep = false;
  private readonly budget = placeholderBudget();

  constructor(private readonly lines: readonly Line[]) {}

  parseAll(): TestCase[] {
    const tests: TestCase[] = [];
    while (this.index < this.lines.length) {
      if (this.is(VERSION)) {
        this.index += 1;
        const head: string[] = [];
        const plan = this.takePlan(head);
        for (const test of this.parseChildren(plan, null, 0, [], head)) tests.push(test);
      } else this.index += 1;
    }
    return tests;
  }

  private peek(): Line | undefined {
    return this.lines[this.index];
  }

  private is(pattern: RegExp): boolean {
    const line = this.peek();
    return line !== undefined && pattern.test(line.text);
  }

  private isStructural(): boolean {
    const line = this.peek();
    if (!line) return false;
    return VERSION.test(line.text) || SUBTEST.test(line.text) || PLAN.test(line.text) || parseResultLine(line.text) !== null;
  }

  private takeLog(into: string[]): void {
    while (this.index < this.lines.length && !this.isStructural()) {
      into.push(this.lines[this.index]!.text.trim());
      this.index += 1;
    }
  }

  private takePlan(log: string[]): number | null {
    this.takeLog(log);
    const match = PLAN.exec(this.peek()?.text ?? "");
    if (!match) return null;
    this.index += 1;
    return Number(match[1]);
  }

  /**
   * Children of one test, until its plan is met, its own result line shows, or output ends.
   * `head` marks the top level, which has no log or result line of its own: the lines above
   * its plan go to its first test, and results past its plan are read too (and noted)
   * rather than dropped, since a duplicated or extra `not ok` must still count.
   */
  private parseChildren(plan: number | null, name: string | null, minIndent: number, log: string[], head: string[] | null = null): TestCase[] {
    const topLevel = head !== null;
    const children: TestCase[] = [];
    let pending: string[] = head ?? [];
    let number = 1;
    for (;;) {
      this.takeLog(pending);
      const line = this.peek();
      if (!line) {
        if (this.endOfOutput(children, pending, plan, number, name)) pending = [];
        break;
      }
      const beyondPlan = plan !== null && number > plan;
      const result = parseResultLine(line.text);
      if (result) {
        if (beyondPlan && !topLevel) break;
        if (line.indent < minIndent) break;
        if (plan === null && name !== null && result.description === name) break;
        this.index += 1;
        const test = withFailureDetails(testFromResult(result, `test ${result.number}`, pending));
        test.children = commentedSubtests(test, this.errors);
        children.push(test);
        pending = [];
        number += 1;
      } else if (this.opensGroup(line.text)) {
        if (beyondPlan && !(topLevel && SUBTEST.test(line.text))) break;
        if (line.indent < minIndent) break;
        this.depth += 1;
        children.push(this.parseGroup(pending, minIndent));
        this.depth -= 1;
        pending = [];
        number += 1;
      } else {
        // A second plan line, or a group nested too deep: keep it as text.
        pending.push(line.text.trim());
        this.index += 1;
      }
    }
    if (topLevel && plan !== null && number - 1 > plan) this.errors.push(`the run: planned ${plan} tests, got ${number - 1}`);
    for (const line of pending) log.push(line);
    return children;
  }

  private opensGroup(text: string): boolean {
    if (!VERSION.test(text) && !SUBTEST.test(text)) return false;
    if (this.depth < MAX_NESTING) return true;
    if (!this.tooDeep) this.errors.push(`tests nested deeper than ${MAX_NESTING} levels were read one level up`);
    this.tooDeep = true;
    return false;
  }

  /**
   * Output ended: every planned test not yet seen is errored, and the first of them (or, with
   * the plan met, a test of its own) keeps what the unfinished test printed, results relayed
   * behind `# ` included. Says whether it took `pending`.
   */
  private endOfOutput(children: TestCase[], pending: string[], plan: number | null, number: number, name: string | null): boolean {
    const running = emptyTest(`(test ${number} never reported)`, "errored");
    running.reason = "output ended before this test reported a result";
    running.log = pending;
    running.children = commentedSubtests(running, this.errors);
    const missing = plan === null ? 0 : plan - number + 1;
    if (missing <= 0 && running.children.length === 0) return false;
    children.push(running);
    for (const test of unreported(number + 1, number + missing - 1, running.reason, this.budget)) children.push(test);
    this.errors.push(`${name ?? "the run"}: ${missing > 0 ? `expected ${plan} tests, ` : ""}output ended after ${number - 1}`);
    return true;
  }

  private parseGroup(log: string[], parentIndent: number): TestCase {
    const headerIndent = this.peek()!.indent;
    let name: string | null = null;
    for (let header = 0; header < 2; header++) {
      const text = this.peek()?.text ?? "";
      const subtest = SUBTEST.exec(text);
      if (subtest) {
        name = subtest[1]!.trim();
        this.index += 1;
      } else if (VERSION.test(text)) this.index += 1;
      else break;
    }
    const groupLog = [...log];
    const plan = this.takePlan(groupLog);
    const minIndent = headerIndent > parentIndent ? headerIndent : parentIndent;
    const children = this.parseChildren(plan, name, minIndent, groupLog);
    this.takeLog(groupLog);
    const resultText = this.peek()?.text;
    const result = resultText === undefined ? null : parseResultLine(resultText);
    if (result) {
      this.index += 1;
      const test = testFromResult(result, name ?? `test ${result.number}`, groupLog);
      test.children = children;
      return test;
    }
    this.errors.push(`${name ?? "a subtest"}: no result line; the test did not finish`);
    const test = emptyTest(name ?? "(unnamed subtest)", "errored");
    test.reason = "no result line: the test did not finish";
    test.log = groupLog;
    test.children = children;
    return test;
  }
}

/** KUnit says where an expectation failed and whether the case crashed; keep both. */
function withFailureDetails(test: TestCase): TestCase {
  if (test.status !== "failed") return test;
  if (test.log.some((line) => CRASHED.test(line))) {
    test.status = "errored";
    test.reason = "the test case crashed";
    return test;
  }
  const at = test.log.findIndex((line) => FAILURE_AT.test(line));
  if (at >= 0) {
    const match = FAILURE_AT.exec(test.log[at]!)!;
    test.location = { file: match[1]!, line: Number(match[2]) };
    const details = [test.log[at]!.replace(/^#[^:]*:\s*/, "")];
    for (const line of test.log.slice(at + 1)) {
      if (line.startsWith("#")) break;
      details.push(line);
    }
    test.reason = details.slice(0, 12).join("\n");
  } else if (!test.reason) {
    const diagnostics = test.log.filter((line) => line.startsWith("#") && !/initializing$/.test(line));
    const last = diagnostics.at(-1);
    if (last) test.reason = last.replace(/^#\s*/, "");
  }
  return test;
}
