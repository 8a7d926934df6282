import { describe, expect, it } from "@jest/globals";
import { jobReport, runReport } from "../../src/runners/report/run-report.js";
import { summaryMarkdown } from "../../src/runners/report/summary-markdown.js";
import { parseResults } from "../../src/runners/results/detect.js";
import type { RunResult } from "../../src/runners/types.js";
import { job } from "../helpers/job.js";

/**
 * Where CommonMark ends the fenced code block opened at `lines[open]`, inside a container
 * whose content starts `indent` columns in (a list item's): at the first line of at least
 * as many backticks as the opening fence, indented at most three spaces, with nothing
 * after it but spaces. Returns the block's content.
 */
function fencedContent(lines: readonly string[], open: number, indent: number): string[] {
  const opening = /^ {0,3}(`{3,})$/.exec(lines[open]!.slice(indent));
  if (!opening) throw new Error(`no fence opens at line ${open + 1}: ${JSON.stringify(lines[open])}`);
  const closing = new RegExp(`^ {0,3}\`{${opening[1]!.length},}[ \\t]*$`);
  const content: string[] = [];
  for (const line of lines.slice(open + 1)) {
    const inContainer = line.slice(0, indent).trim() === "" ? line.slice(indent) : null;
    if (inContainer === null) throw new Error(`the block leaves its list item at ${JSON.stringify(line)}`);
    if (closing.test(inContainer)) return content;
    content.push(inContainer);
  }
  throw new Error("the fence is never closed");
}

/** The content of the first CommonMark code span in `text`: closed by a run of exactly as many backticks. */
function codeSpanContent(text: string): string {
  const open = /`+/.exec(text)!;
  const rest = text.slice(open.index + open[0].length);
  const close = new RegExp(`(?<!\`)\`{${open[0].length}}(?!\`)`).exec(rest)!;
  const inner = rest.slice(0, close.index);
  return /^ .*[^ ].* $/.test(inner) ? inner.slice(1, -1) : inner;
}

const at = new Date(0).toISOString();
function result(overrides: Partial<RunResult>): RunResult {
  return {
    jobId: "j",
    status: "failed",
    outcome: "failed",
    reason: "failed",
    exitCode: 1,
    startedAt: at,
    finishedAt: at,
    durationMs: 1,
    results: null,
    metrics: { wallMs: 1, cpuMs: null, memoryPeakBytes: null },
    artifacts: [],
    logs: { stdout: "stdout.log", stderr: "stderr.log" },
    stdoutTruncated: false,
    stderrTruncated: false,
    ...overrides,
  };
}

// What a test's output puts in a failure reason: a line of backticks ends a short fence.
const REASON = ["expected 4, got 3", "```", "# owned", "````", "  ```  ", "<img src=x>"].join("\n");
const JUNIT = `<?xml version="1.0"?><testsuites><testsuite name="s"><testcase name="arith" file="t.c" line="9"><failure>${REASON.replace(/</g, "&lt;")}</failure></testcase></testsuite></testsuites>`;

describe("the run summary (job summary and check run) keeps a job's text where it is put", () => {
  const summaryOf = (spec: ReturnType<typeof job>, run: RunResult, config = "kto.yml") =>
    summaryMarkdown(runReport(config, [jobReport(spec, run, "jobs/j")], new Date(0), new Date(1)));

  it("a failure reason holding lines of backticks stays inside its fence, in its list item", () => {
    const results = parseResults(JUNIT, "junit");
    expect(results.tests[0]!.children[0]!.reason).toBe(REASON);
    const lines = summaryOf(job({ id: "j" }), result({ results })).split("\n");
    const item = lines.indexOf("- **s › arith** failed at `t.c:9`");
    expect(item).toBeGreaterThan(0);
    expect(lines[item + 1]).toBe("");
    expect(fencedContent(lines, item + 2, 2)).toEqual(REASON.split("\n"));
  });

  it("a job's reason of several lines holding backticks stays inside its fence, whichever line endings it uses", () => {
    for (const reason of [REASON, REASON.replace(/\n/g, "\r\n"), REASON.replace(/\n/g, "\r")]) {
      const lines = summaryOf(job({ id: "j" }), result({ reason })).split("\n");
      const heading = lines.indexOf("### j: failed");
      expect(fencedContent(lines, heading + 2, 0)).toEqual(REASON.split("\n"));
    }
  });

  it("a job name or test name with line breaks stays on its heading, list item and table row", () => {
    const name = "evil\n```\n# owned\r| x |";
    const results = parseResults('<testsuites><testsuite name="s"><testcase name="t"><failure>f</failure></testcase></testsuite></testsuites>', "junit");
    results.tests[0]!.children[0]!.name = "t\n```\r# owned";
    const summary = summaryOf(job({ id: name }), result({ results }));
    expect(summary).toContain("\n### evil ``` # owned | x |: failed\n");
    expect(summary).toContain("\n- **s › t ``` # owned** failed\n");
    expect(summary).toContain("\n| evil ``` # owned \\| x \\| | ❌ failed |");
    expect(summary.split("\n").filter((line) => /^#/.test(line))).toEqual(["# kto: ❌ failed", "## What went wrong", "### evil ``` # owned | x |: failed"]);
  });

  it("a config path or test file holding backticks stays inside its code span", () => {
    const results = parseResults(
      '<testsuites><testsuite name="s"><testcase name="t" file="a`b``c.c" line="3"><failure>f</failure></testcase></testsuite></testsuites>',
      "junit",
    );
    const summary = summaryOf(job({ id: "j" }), result({ results }), "`conf``.yml");
    const intro = summary.split("\n").find((line) => line.startsWith("1 job from "))!;
    expect(codeSpanContent(intro.slice("1 job from ".length))).toBe("`conf``.yml");
    const item = summary.split("\n").find((line) => line.startsWith("- **s › t** failed at "))!;
    expect(codeSpanContent(item.slice("- **s › t** failed at ".length))).toBe("a`b``c.c:3");
  });
});
