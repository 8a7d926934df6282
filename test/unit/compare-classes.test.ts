import { describe, expect, it } from "@jest/globals";
import { ConfigError } from "../../src/config/errors.js";
import { parseKnownIssues } from "../../src/config/known-issues.js";
import { compileTestGlob, MAX_GLOB_WILDCARDS } from "../../src/config/test-glob.js";
import { compareResults, comparisonExit } from "../../src/runners/history/comparison.js";
import { resultsSet } from "../../src/runners/history/results-set.js";
import { caseResults } from "../../src/runners/report/test-cases.js";
import { parseResults } from "../../src/runners/results/detect.js";

type Job = Parameters<typeof resultsSet>[1][number];

/** A job as kto run writes it into results.json, its cases read from real TAP or KTAP output. */
function job(suite: string, output: string, over: Partial<Job> = {}): Job {
  const parsed = parseResults(output);
  const failed = parsed.status === "failed" || parsed.status === "errored";
  return {
    name: suite,
    suite,
    matrix: {},
    status: failed ? "failed" : "succeeded",
    outcome: failed ? "failed" : "passed",
    reason: "",
    ...caseResults(parsed),
    ...over,
  };
}

const tap = (...lines: string[]) => ["TAP version 13", `1..${lines.length}`, ...lines].join("\n");

function classes(base: Job[], head: Job[], known?: string) {
  const c = compareResults(resultsSet("base", base), resultsSet("head", head), known ? { known: parseKnownIssues(known) } : {});
  return { c, exit: comparisonExit(c), of: (cls: string) => c.tests.filter((t) => t.class === cls).map((t) => t.id) };
}

describe("kto compare's classes, where a regression could hide", () => {
  it("a build that broke, and the suite it would have booted, skipped: both jobs' own cases regress", () => {
    const base = [job("build", tap()), job("kunit", tap("ok 1 a", "ok 2 c"))];
    const head = [job("build", "", { status: "failed", outcome: "failed", cases: [] }), job("kunit", "", { status: "skipped", outcome: "skipped", cases: [] })];
    const { of, exit, c } = classes(base, head);
    expect(of("new")).toEqual(["build › (job)", "kunit › (job)"]);
    expect(exit).toBe(1);
    // The tests that did not run are named as well.
    expect(c.incomplete).toEqual([expect.stringContaining("2 tests that passed in base did not run in kunit of head: kunit › a, kunit › c")]);
  });

  it("a level that failed with every printed case passing (a case that crashed mid-way) is a regression of that level", () => {
    const base = [job("kunit", "KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 a\n    ok 2 c\nok 1 example\n")];
    const head = [job("kunit", "KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 a\nnot ok 1 example\n")];
    const { of, exit } = classes(base, head);
    expect(of("new")).toContain("kunit › example › (suite)");
    expect(exit).toBe(1);
  });

  it("a kselftest program killed by its timeout after its relayed cases passed is a regression of that program", () => {
    const program = (ok: boolean) =>
      tap(
        "# selftests: timers: posix_timers\n# TAP version 13\n# 1..1\n# ok 1 check_itimer\n" +
          (ok ? "ok 1" : "not ok 1") +
          " selftests: timers: posix_timers" +
          (ok ? "" : " # TIMEOUT 45 seconds"),
      );
    const { of } = classes([job("timers", program(true))], [job("timers", program(false))]);
    expect(of("new")).toEqual(["timers › selftests: timers: posix_timers › (suite)"]);
  });

  it("a new job whose kernel panics gates as a regression would: a new test that fails is not green", () => {
    const { of, exit, c } = classes(
      [job("kunit", tap("ok 1 a"))],
      [job("kunit", tap("ok 1 a")), job("riscv", "", { status: "failed", outcome: "kernel_panic", cases: [] })],
    );
    expect(of("new_test")).toEqual(["riscv › (job)"]);
    expect(c.failingNewTests).toBe(1);
    expect(exit).toBe(1);
  });

  it("a test that passed and no longer runs makes the answer incomplete, not green", () => {
    const { exit, c } = classes([job("unit", tap("ok 1 a", "ok 2 b"))], [job("unit", tap("ok 1 a"))]);
    expect(c.removed).toBe(1);
    expect(exit).toBe(2);
  });

  it("a test that passed and is skipped now is reported, unless a known issue expects the skip", () => {
    const base = [job("unit", tap("ok 1 a", "ok 2 b"))];
    const head = [job("unit", tap("ok 1 a # SKIP no device", "ok 2 b # SKIP no device"))];
    expect(classes(base, head).c.nowSkipped).toEqual(["unit › a", "unit › b"]);
    expect(classes(base, head, "version: 1\nknown:\n  - { tests: a, expect: skip }\n").c.nowSkipped).toEqual(["unit › b"]);
  });

  it("levels are kept apart from names that hold the separator, and a second test of one name from a test named like a suffix", () => {
    const base = [
      job("unit", "", {
        cases: [
          { path: ["a › b"], name: "c", status: "passed" },
          { path: [], name: "t", status: "passed" },
          { path: [], name: "t (#2)", status: "failed" },
        ],
      }),
    ];
    const head = [
      job("unit", "", {
        cases: [
          { path: ["a"], name: "b › c", status: "failed" },
          { path: ["a › b"], name: "c", status: "passed" },
          { path: [], name: "t", status: "passed" },
          { path: [], name: "t", status: "failed" },
          { path: [], name: "t (#2)", status: "passed" },
        ],
      }),
    ];
    const { c } = classes(base, head);
    const byClass = Object.fromEntries(c.tests.map((t) => [`${JSON.stringify(t.identity.path)}/${t.identity.name}#${t.identity.occurrence}`, t.class]));
    expect(byClass).toEqual({ '["a"]/b › c#1': "new_test", "[]/t#2": "new_test", "[]/t (#2)#1": "fixed" });
  });

  it("a known issue covers a failure only in its scope, and one whose test passes now is pointed out unless intermittent", () => {
    const base = [job("unit", tap("not ok 1 a", "not ok 2 b"), { matrix: { arch: "arm64" } })];
    const head = [job("unit", tap("ok 1 a", "not ok 2 b"), { matrix: { arch: "arm64" } })];
    const file = "version: 1\nknown:\n  - { tests: a, link: 'https://lore.kernel.org/r/1' }\n  - { tests: b, arch: x86_64 }\n";
    const { c, of } = classes(base, head, file);
    expect(of("still_failing")).toEqual(["unit[arch=arm64] › b"]);
    expect(c.knownNowPassing).toEqual([{ entry: 0, link: "https://lore.kernel.org/r/1", test: "unit[arch=arm64] › a" }]);
    const intermittent = classes(base, head, file.replace("link:", "intermittent: true, link:"));
    expect(intermittent.c.knownNowPassing).toEqual([]);
  });
});

describe("test globs", () => {
  it("match across levels and slashes, take brackets and parentheses literally, and anchor both ends", () => {
    expect(compileTestGlob("kselftest › *")("kselftest › selftests: net/forwarding: router.sh")).toBe(true);
    expect(compileTestGlob("param_test[1]")("param_test[1]")).toBe(true);
    expect(compileTestGlob("param_test[1]")("param_test1")).toBe(false);
    expect(compileTestGlob("(job)")("job")).toBe(false);
    expect(compileTestGlob("a*c")("abcd")).toBe(false);
    expect(compileTestGlob("a*c*")("abcd")).toBe(true);
    expect(compileTestGlob("a?c")("abc")).toBe(true);
    expect(compileTestGlob("a\\*")("a*")).toBe(true);
    expect(compileTestGlob("a\\*")("ab")).toBe(false);
    expect(compileTestGlob("a*a")("a")).toBe(false);
  });

  it("a pathological pattern costs a bounded search, not an exponential one", () => {
    const pattern = `${"*a".repeat(MAX_GLOB_WILDCARDS)}b`;
    // Leftmost segment matching: at most the text's length per segment, so this ends at once (backtracking globs take hours).
    expect(compileTestGlob(pattern)("a".repeat(4096))).toBe(false);
    expect(() => compileTestGlob("*".repeat(MAX_GLOB_WILDCARDS + 1) + "a")).toThrow(/more than 16 wildcards/);
  });

  it("a negated glob, a lone backslash or a link with a newline is an error naming the file, line and field", () => {
    const error = (text: string) => {
      try {
        parseKnownIssues(text, ".github/kto-known.yml");
      } catch (e) {
        return (e as ConfigError).message;
      }
      throw new Error("no error");
    };
    expect(error("version: 1\nknown:\n  - tests: ok\n  - tests: '!a'\n")).toMatch(
      /^\.github\/kto-known\.yml:4:\d+: known\[1\]\.tests: invalid glob: a glob cannot be negated/,
    );
    expect(error("version: 1\nknown:\n  - tests: 'a\\'\n")).toMatch(/known\[0\]\.tests: invalid glob: ends with a lone \\/);
    expect(error('version: 1\nknown:\n  - { tests: a, link: "https://x.example/a\\nkto: forged" }\n')).toMatch(
      /known\[0\]\.link: expected a link without spaces or control characters/,
    );
  });
});
