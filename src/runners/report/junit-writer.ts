import { XMLBuilder } from "fast-xml-parser";
import type { ParsedResults, TestCase } from "../results/types.js";
import { leaves } from "../results/types.js";
import { terminalText } from "./terminal-text.js";

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@", format: true, suppressEmptyNode: true });

export interface JunitSuite {
  name: string;
  results: ParsedResults | null;
  /** A job with no parsed tests still appears, as one case carrying the job's own status. */
  status: string;
  reason: string;
  durationMs: number;
}

function testcase(classname: string, test: ReturnType<typeof leaves>[number]): Record<string, unknown> {
  const node: Record<string, unknown> = { "@classname": classname, "@name": [...test.path, test.name].join(".") };
  if (test.durationMs !== undefined) node["@time"] = (test.durationMs / 1000).toFixed(3);
  if (test.location) {
    node["@file"] = test.location.file;
    node["@line"] = test.location.line;
  }
  if (test.status === "failed") node.failure = { "@message": firstLine(test.reason ?? "failed"), "#text": test.log.join("\n") };
  if (test.status === "errored") node.error = { "@message": firstLine(test.reason ?? "errored"), "#text": test.log.join("\n") };
  if (test.status === "skipped") node.skipped = { "@message": test.reason ?? "" };
  return node;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

/** JUnit XML as CI dashboards read it: one <testsuite> per job, one <testcase> per leaf test. */
export function writeJunit(suites: readonly JunitSuite[]): string {
  const testsuite = suites.map((suite) => {
    const tests: TestCase[] = suite.results?.tests ?? [];
    const cases = leaves(tests).map((t) => testcase(suite.name, t));
    if (cases.length === 0) {
      const own: Record<string, unknown> = { "@classname": suite.name, "@name": suite.name, "@time": (suite.durationMs / 1000).toFixed(3) };
      if (suite.status === "failed" || suite.status === "timed_out") own.failure = { "@message": suite.reason };
      if (suite.status === "errored") own.error = { "@message": suite.reason };
      if (suite.status === "cancelled") own.skipped = { "@message": suite.reason };
      cases.push(own);
    }
    const count = (key: string) => cases.filter((c) => key in c).length;
    return {
      "@name": suite.name,
      "@tests": cases.length,
      "@failures": count("failure"),
      "@errors": count("error"),
      "@skipped": count("skipped"),
      "@time": (suite.durationMs / 1000).toFixed(3),
      testcase: cases,
    };
  });
  // XML 1.0 has no place for most control characters, and a terminal obeys them: they are shown as escapes.
  return terminalText(`<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ testsuites: { testsuite } })}`);
}
