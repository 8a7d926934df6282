import { consoleLines } from "./console-text.js";
import { parseResultLine, testFromResult } from "./directive.js";
import { emptyTest, finish, type ParsedResults, type TestCase } from "./types.js";

const VERSION = /(K?TAP version \d+)\s*$/;
const SUBTEST = /^\s*# Subtest: (.*)$/;
const PLAN = /^\s*1\.\.(\d+)\s*(?:#.*)?$/;
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
  const start = lines.findIndex((line) => VERSION.test(line));
  if (start < 0) return finish("ktap", [], []);
  const versionLine = lines[start]!;
  const prefix = versionLine.slice(0, VERSION.exec(versionLine)!.index);
  const strip = prefixStripper(prefix);
  const body = lines.slice(start).map((line) => {
    const text = strip(line);
    return { text, indent: indentOf(text) };
  });
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

  constructor(private readonly lines: readonly Line[]) {}

  parseAll(): TestCase[] {
    const tests: TestCase[] = [];
    while (this.index < this.lines.length) {
      if (this.is(VERSION)) {
        this.index += 1;
        const plan = this.takePlan([]);
        tests.push(...this.parseChildren(plan, null, 0, []).children);
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

  /** Children of one test, until its plan is met, its own result line shows, or output ends. */
  private parseChildren(
    plan: number | null,
    name: string | null,
    minIndent: number,
    log: string[],
  ): { children: TestCase[]; trailing: string[] } {
    const children: TestCase[] = [];
    let pending: string[] = [];
    let number = 1;
    for (;;) {
      this.takeLog(pending);
      const line = this.peek();
      if (!line) {
        if (plan !== null && number <= plan) {
          for (let missing = number; missing <= plan; missing++) {
            const test = emptyTest(`(test ${missing} never reported)`, "errored");
            test.reason = "output ended before this test reported a result";
            test.log = missing === number ? pending : [];
            children.push(test);
          }
          pending = [];
          this.errors.push(`${name ?? "the run"}: expected ${plan} tests, output ended after ${number - 1}`);
        }
        break;
      }
      const result = parseResultLine(line.text);
      if (result) {
        if (plan !== null && number > plan) break;
        if (line.indent < minIndent) break;
        if (plan === null && name !== null && result.description === name) break;
        this.index += 1;
        children.push(withFailureDetails(testFromResult(result, `test ${result.number}`, pending)));
        pending = [];
        number += 1;
      } else if (VERSION.test(line.text) || SUBTEST.test(line.text)) {
        if (plan !== null && number > plan) break;
        if (line.indent < minIndent) break;
        children.push(this.parseGroup(pending, minIndent));
        pending = [];
        number += 1;
      } else {
        // A second plan line: keep it as text, it says nothing new.
        pending.push(line.text.trim());
        this.index += 1;
      }
    }
    log.push(...pending);
    return { children, trailing: pending };
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
    const { children } = this.parseChildren(plan, name, minIndent, groupLog);
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
    const details = [test.log[at]!.replace(/^#\s*[^:]*:\s*/, "")];
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
