import type { Directive, TestCase, TestStatus } from "./types.js";

// `s`: lines are split at \n only, and a `.*$` stopped by a U+2028 inside one would backtrack
// through the `\s*` before it, quadratic in the line's length.
const RESULT = /^(ok|not ok)\s+(\d+)\b\s*(?:-\s*)?(.*)$/s;
const DIRECTIVE = /^(SKIP|TODO|XFAIL|TIMEOUT|ERROR)\b\S*\s*(.*)$/is;

export interface ResultLine {
  ok: boolean;
  number: number;
  description: string;
  directive?: Directive;
  reason?: string;
}

/** Reads `ok 1 - name # SKIP reason`. A `#` escaped as `\#` belongs to the description. */
export function parseResultLine(text: string): ResultLine | null {
  const match = RESULT.exec(text.trim());
  if (!match) return null;
  const rest = match[3] ?? "";
  const hash = findUnescapedHash(rest);
  const description = (hash < 0 ? rest : rest.slice(0, hash)).trim().replace(/\\#/g, "#");
  const line: ResultLine = { ok: match[1] === "ok", number: Number(match[2]), description };
  if (hash >= 0) {
    const comment = rest.slice(hash + 1).trim();
    const directive = DIRECTIVE.exec(comment);
    if (directive) {
      line.directive = directive[1]!.toLowerCase() as Directive;
      if (directive[2]) line.reason = directive[2];
    }
  }
  return line;
}

function findUnescapedHash(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "#" && text[i - 1] !== "\\") return i;
  }
  return -1;
}

/** The status a result line stands for: TODO and XFAIL are expected failures, not failures. */
export function statusOf(line: ResultLine): TestStatus {
  switch (line.directive) {
    case "skip":
      return "skipped";
    case "todo":
    case "xfail":
      return "passed";
    case "timeout":
    case "error":
      return "errored";
    default:
      return line.ok ? "passed" : "failed";
  }
}

export function testFromResult(line: ResultLine, fallbackName: string, log: string[]): TestCase {
  const test: TestCase = {
    name: line.description || fallbackName,
    status: statusOf(line),
    log,
    children: [],
  };
  if (line.directive) test.directive = line.directive;
  if (line.reason) test.reason = line.reason;
  return test;
}
