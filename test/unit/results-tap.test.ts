import { readFileSync } from "node:fs";
import { describe, expect, it } from "@jest/globals";
import { decideOutcome } from "../../src/runners/finish-job.js";
import { parseResults } from "../../src/runners/results/detect.js";
import { parseKtap } from "../../src/runners/results/ktap.js";
import { parseTap } from "../../src/runners/results/tap.js";
import { leaves, MAX_NESTING, type LeafTest } from "../../src/runners/results/types.js";

describe("TAP 13/14 parser", () => {
  it("reads TAP 14 subtests by indentation with their YAML diagnostics", () => {
    const text = [
      "TAP version 14",
      "1..2",
      "# Subtest: parser",
      "    1..2",
      "    ok 1 - reads plans",
      "    not ok 2 - reads yaml",
      "      ---",
      "      message: expected 3, got 2",
      "      at: { file: src/parser.c, line: 42 }",
      "      duration_ms: 12.5",
      "      ...",
      "not ok 1 - parser",
      "ok 2 - lexer # SKIP not built",
    ].join("\n");
    const parsed = parseTap(text);
    expect(parsed.status).toBe("failed");
    expect(parsed.counts).toEqual({ passed: 1, failed: 1, skipped: 1, errored: 0, total: 3 });
    const failed = leaves(parsed.tests).find((t) => t.status === "failed")!;
    expect(failed).toMatchObject({
      name: "reads yaml",
      path: ["parser"],
      reason: "expected 3, got 2",
      location: { file: "src/parser.c", line: 42 },
      durationMs: 12.5,
    });
  });

  it("errors the rest of the plan after Bail out!", () => {
    const parsed = parseTap("TAP version 13\n1..3\nok 1 - a\nBail out! database is down\nok 2 - never read\n");
    expect(parsed.status).toBe("errored");
    expect(parsed.counts).toEqual({ passed: 1, failed: 0, skipped: 0, errored: 2, total: 3 });
    expect(parsed.errors[0]).toBe("bailed out: database is down");
  });

  it("treats TODO failures as passes", () => {
    const parsed = parseTap("TAP version 13\n1..2\nnot ok 1 - pending # TODO later\nok 2 - done\n");
    expect(parsed.status).toBe("passed");
  });

  it("reads kselftest's runner output, where nested TAP is commented out", () => {
    const parsed = parseTap(
      "TAP version 13\n1..2\n# selftests: net: test_a\n# TAP version 13\n# 1..1\n# ok 1 inner\nok 1 selftests: net: test_a\n# selftests: net: test_b\nnot ok 2 selftests: net: test_b # exit=1\n",
    );
    expect(parsed.tests.map((t) => [t.name, t.status])).toEqual([
      ["selftests: net: test_a", "passed"],
      ["selftests: net: test_b", "failed"],
    ]);
    expect(parsed.tests[0]!.children.map((t) => [t.name, t.status])).toEqual([["inner", "passed"]]);
  });

  it("reports an unfinished subtest as errored", () => {
    const parsed = parseTap("TAP version 14\n1..1\n# Subtest: deep\n    1..2\n    ok 1 - one\n");
    expect(parsed.status).toBe("errored");
    expect(parsed.tests[0]).toMatchObject({ name: "deep", status: "errored" });
  });
});

const fixture = (name: string) => readFileSync(new URL(`../fixtures/results/${name}`, import.meta.url), "utf8");
const named = (test: LeafTest) => [...test.path, test.name].join(" › ");

describe("kselftest output, where each program's own results are relayed behind `# `", () => {
  const runner = [
    "TAP version 13",
    "1..2",
    "# selftests: net: reuseport_bpf",
    "# ok 1 test_a",
    "# not ok 2 test_b",
    "# # some diagnostic",
    "not ok 1 selftests: net: reuseport_bpf # exit=1",
    "# selftests: net: other",
    "# ok 1 x",
    "ok 2 selftests: net: other",
  ].join("\n");

  it("reads `# ok`/`# not ok` lines with no nested version line or plan as subtests of the program after them", () => {
    const parsed = parseResults(runner);
    expect(parsed).toMatchObject({ format: "tap", status: "failed", counts: { passed: 2, failed: 1, skipped: 0, errored: 0, total: 3 }, errors: [] });
    expect(leaves(parsed.tests).map((t) => [named(t), t.status])).toEqual([
      ["selftests: net: reuseport_bpf › test_a", "passed"],
      ["selftests: net: reuseport_bpf › test_b", "failed"],
      ["selftests: net: other › x", "passed"],
    ]);
  });

  it("reads them the same behind a console's timestamps, through the KTAP reader", () => {
    const stamped = runner
      .split("\n")
      .map((line, i) => `[    1.${String(i).padStart(6, "0")}] ${line}`)
      .join("\n");
    const parsed = parseResults(stamped);
    expect(parsed.format).toBe("ktap");
    expect(leaves(parsed.tests).map((t) => [named(t), t.status])).toEqual(leaves(parseResults(runner).tests).map((t) => [named(t), t.status]));
  });

  it("names every failure even where the runner said ok (arm64 gcs-stress, as posted to the list)", () => {
    const parsed = parseResults(fixture("kselftest-arm64-gcs-stress.log"));
    expect(parsed.tests.map((t) => [t.name, t.status])).toEqual([["selftests: arm64: gcs-stress", "passed"]]);
    expect(parsed.status).toBe("failed");
    expect(parsed.counts).toEqual({ passed: 0, failed: 9, skipped: 0, errored: 0, total: 9 });
    const failed = leaves(parsed.tests);
    expect(failed.map((t) => t.name)).toEqual(Array.from({ length: 9 }, (_, i) => `Thread-${4870 + i}`));
    expect(failed[0]!.log).toContain("# Thread-4870 exited with error code 255");
    expect(parseKtap(fixture("kselftest-arm64-gcs-stress.log")).counts).toEqual(parsed.counts);
  });

  it("keeps kselftest_harness's out-of-order and over-plan results (sgx, as posted to the list)", () => {
    const parsed = parseResults(fixture("kselftest-sgx-harness.log"));
    expect(parsed.status).toBe("failed");
    expect(parsed.counts).toEqual({ passed: 0, failed: 3, skipped: 3, errored: 0, total: 6 });
    expect(
      leaves(parsed.tests)
        .filter((t) => t.status === "failed")
        .map(named),
    ).toEqual([
      "selftests: sgx: test_sgx › enclave.unclobbered_vdso",
      "selftests: sgx: test_sgx › enclave.clobbered_vdso",
      "selftests: sgx: test_sgx › enclave.clobbered_vdso_and_user_function",
    ]);
    expect(leaves(parsed.tests).find((t) => t.status === "skipped")).toMatchObject({ name: "test 2", reason: "cannot load enclaves", directive: "skip" });
  });

  it("reads the kernel's own kselftest sample with its nested version lines and plans, by either reader", () => {
    const text = fixture("kunit-test_is_test_passed-kselftest.log");
    for (const parsed of [parseResults(text), parseKtap(text)]) {
      expect(parsed).toMatchObject({ status: "passed", counts: { passed: 4, total: 4 }, errors: [] });
      expect(parsed.tests[0]!.children.map((t) => t.name)).toEqual(["sys_membarrier available", expect.stringContaining("sys membarrier invalid command")]);
    }
  });

  it("notes a relayed plan that falls short, unless the program skipped itself", () => {
    const short = parseTap("TAP version 13\n1..1\n# 1..5\n# ok 1 a\n# ok 2 b\nok 1 prog\n");
    expect(short).toMatchObject({ status: "errored", errors: ["prog: planned 5 subtests, got 2"] });
    const skipped = parseTap("TAP version 13\n1..1\n# 1..5\n# ok 1 a\nok 1 prog # SKIP no device\n");
    expect(skipped).toMatchObject({ status: "passed", errors: [] });
  });

  it("keeps what a program relayed when output ends before its result line", () => {
    const text = "TAP version 13\n1..2\n# ok 1 a\nok 1 first\n# selftests: s: second\n# ok 1 b\n# not ok 2 c\n";
    for (const parsed of [parseTap(text), parseKtap(text)]) {
      expect(parsed.status).toBe("failed");
      const c = leaves(parsed.tests).find((t) => t.name === "c")!;
      expect(c).toMatchObject({ status: "failed", path: ["(test 2 never reported)"] });
    }
  });

  it("keeps a nested program's results when its own result line is missing", () => {
    const text = "TAP version 13\n1..1\n# # not ok 1 deep\n# # ok 2 deeper\nnot ok 1 prog\n";
    const deep = leaves(parseTap(text).tests).find((t) => t.name === "deep");
    expect(deep).toMatchObject({ status: "failed", path: ["prog", "(test 1 never reported)"] });
  });

  it("follows relayed nesting as deep as the parsers nest, noting results deeper than that", () => {
    const chain = Array.from({ length: MAX_NESTING + 2 }, (_, i) => `${"# ".repeat(MAX_NESTING + 2 - i)}ok 1 level${MAX_NESTING + 2 - i}`);
    const deep = parseTap(`TAP version 13\n1..1\n${chain.join("\n")}\nok 1 prog\n`);
    expect(deep.errors).toEqual([`level${MAX_NESTING}: results nested deeper than ${MAX_NESTING} levels were not read`]);
    expect(leaves(deep.tests)[0]!.path).toHaveLength(MAX_NESTING);
    const banner = parseTap(`TAP version 13\n1..1\n${"# ".repeat(MAX_NESTING + 6)}\nok 1 prog\n`);
    expect(banner).toMatchObject({ status: "passed", errors: [] });
  });

  it("does not make tests of diagnostics or of indented text between relayed results", () => {
    const parsed = parseTap("TAP version 13\n1..1\n# # Totals: pass:1 fail:0\n#\n# okay 1 not a result\n       ⋮\n# ok 1 real\nok 1 prog\n");
    expect(leaves(parsed.tests).map(named)).toEqual(["prog › real"]);
  });
});

describe("status of a run whose tests were skipped", () => {
  const ran = { exitCode: 0, timedOut: false, cancelled: false };

  it("is skipped when every test was, and the job's outcome says so", () => {
    const parsed = parseResults(fixture("kselftest-sgx-skipped.log"));
    expect(parsed).toMatchObject({ status: "skipped", counts: { skipped: 1, total: 1 } });
    expect(decideOutcome(ran, parsed)).toEqual({ status: "succeeded", outcome: "skipped", reason: "all 1 tests were skipped" });
    expect(decideOutcome({ ...ran, exitCode: null }, parsed).outcome).toBe("skipped");
  });

  it("is still a failure when the command exited non-zero", () => {
    expect(decideOutcome({ ...ran, exitCode: 4 }, parseResults(fixture("kselftest-sgx-skipped.log")))).toMatchObject({ status: "failed", outcome: "failed" });
  });

  it("is passed when some tests passed and the rest were skipped", () => {
    const parsed = parseTap("TAP version 13\n1..2\nok 1 - a\nok 2 - b # SKIP later\n");
    expect(parsed.status).toBe("passed");
    expect(decideOutcome(ran, parsed).outcome).toBe("passed");
  });
});

describe("TAP results that are duplicated, out of order or cut short", () => {
  it.each([
    ["a `not ok` followed by a duplicate `ok`", "TAP version 13\n1..3\nok 1 a\nok 2 b\nnot ok 3 c\nok 3 c\n", "failed"],
    ["results out of order", "TAP version 13\n1..3\nok 2 b\nnot ok 1 a\nok 3 c\n", "failed"],
    ["a plan of 5 with 3 results", "TAP version 13\n1..5\nok 1 a\nok 2 b\nok 3 c\n", "errored"],
    ["a `not ok` cut in the middle of its line", "TAP version 13\n1..2\nok 1 a\nnot ok 2 bro", "failed"],
    ["a `not ok` cut inside its directive", "TAP version 13\n1..2\nok 1 a\nnot ok 2 b # SK", "failed"],
    ["more results than the plan", "TAP version 13\n1..1\nok 1 a\nok 2 b\n", "errored"],
    ["two subtest blocks, the first without its result line", "TAP version 14\n1..1\n    not ok 1 - lost\n# Subtest: b\n    ok 1 - kept\nok 1 - b\n", "failed"],
  ])("%s: %s", (_what, text, status) => {
    expect(parseTap(text).status).toBe(status);
  });

  it("reads a version line in any letter case", () => {
    expect(parseTap("TAP Version 13\n1..1\nnot ok 1 - a\n")).toMatchObject({ status: "failed", counts: { total: 1 }, errors: [] });
    expect(parseTap("tap version 14\nPRAGMA +strict\n1..1\nok 1 - a\n").tests[0]!.log).toEqual([]);
  });
});
