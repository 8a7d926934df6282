import { describe, expect, it } from "@jest/globals";
import { judgementMarkdown } from "../../../src/app/history/judgement-markdown.js";
import type { Judgement } from "../../../src/app/history/result-judge.js";
import { parseKnownIssues } from "../../../src/config/known-issues.js";
import { compareResults } from "../../../src/runners/history/comparison.js";
import { resultsSet } from "../../../src/runners/history/results-set.js";

/** A judgement of job "net" whose failing tests t0…t{n-1} are all covered by known issues with `link`. */
function judged(n: number, link: string, knownPassing: Judgement["knownPassing"] = []): Judgement {
  const cases = (status: "passed" | "failed") => Array.from({ length: n }, (_, i) => ({ path: ["forwarding"], name: `t${i}`, status }));
  const job = (status: "passed" | "failed") => ({
    name: "net",
    suite: "net",
    matrix: {},
    status: "failed" as const,
    outcome: "failed" as const,
    reason: "",
    cases: cases(status),
  });
  const known = parseKnownIssues(`version: 1\nknown:\n  - tests: "forwarding › *"\n    link: "${link}"\n`);
  const comparison = compareResults(resultsSet("base", [job("passed")]), resultsSet("head", [job("failed")]), { known });
  return { comparison, baseline: null, failOn: "regressions", regressions: 0, conclusion: "success", notes: [], knownPassing };
}

const LINKS = { serverUrl: "https://github.com", repo: "o/r" };

describe("a judgement's Markdown", () => {
  it("links a known issue on each test it covers when its link is short", () => {
    const md = judgementMarkdown(judged(3, "https://lore.kernel.org/r/1"), LINKS);
    expect(md).toContain("- `net › forwarding › t0`: failed (was passed) — [known issue #1](https://lore.kernel.org/r/1)");
  });

  it("names a known issue with a long link by its number, so 25 covered tests stay a few kilobytes", () => {
    const long = `https://bugs.example/${"(x)".repeat(670)}`;
    const md = judgementMarkdown(judged(40, long, [{ entry: 0, link: long, commits: 10, tests: ["net › forwarding › t0"] }]), LINKS);
    expect(md).toContain("— known issue #1\n");
    expect(md).not.toContain("bugs.example");
    expect(Buffer.byteLength(md)).toBeLessThan(8_000);
    expect(md).toContain("- Known issue #1: its tests passed in this job at each of the base branch's last 10 commits that ran them");
  });
});
