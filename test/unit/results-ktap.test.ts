import { readFileSync } from "node:fs";
import { describe, expect, it } from "@jest/globals";
import { detectFormat, parseResults } from "../../src/runners/results/detect.js";
import { parseKtap } from "../../src/runners/results/ktap.js";
import { leaves } from "../../src/runners/results/types.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/results/${name}`, import.meta.url), "utf8");

describe("KTAP parser on the kernel's own kunit_tool test data", () => {
  it.each([
    ["kunit-test_is_test_passed-all_passed.log", "passed", { passed: 10, failed: 0, skipped: 0, errored: 0, total: 10 }],
    ["kunit-test_is_test_passed-failure.log", "failed", { passed: 9, failed: 1, skipped: 0, errored: 0, total: 10 }],
    ["kunit-test_skip_tests.log", "passed", { passed: 4, failed: 0, skipped: 1, errored: 0, total: 5 }],
    ["kunit-test_config_printk_time.log", "passed", { passed: 10, failed: 0, skipped: 0, errored: 0, total: 10 }],
    ["kunit-test_multiple_prefixes.log", "passed", { passed: 10, failed: 0, skipped: 0, errored: 0, total: 10 }],
    ["kunit-test_is_test_passed-missing_plan.log", "passed", { passed: 10, failed: 0, skipped: 0, errored: 0, total: 10 }],
    ["kunit-test_is_test_passed-crash.log", "failed", { passed: 9, failed: 0, skipped: 0, errored: 1, total: 10 }],
    ["kunit-test_kernel_panic_interrupt.log", "errored", { passed: 8, failed: 0, skipped: 0, errored: 2, total: 10 }],
  ])("%s: %s", (file, status, counts) => {
    const parsed = parseResults(fixture(file));
    expect(parsed.format).toBe("ktap");
    expect(parsed.status).toBe(status);
    expect(parsed.counts).toEqual(counts);
  });

  it("keeps KUnit's EXPECTATION FAILED location and message", () => {
    const failed = leaves(parseKtap(fixture("kunit-test_is_test_passed-failure.log")).tests).filter((t) => t.status === "failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      name: "example_simple_test",
      path: ["example"],
      location: { file: "lib/kunit/example-test.c", line: 30 },
    });
    expect(failed[0]!.reason).toBe("EXPECTATION FAILED at lib/kunit/example-test.c:30\nExpected 1 + 1 == 3, but\n1 + 1 == 2\n3 == 3");
  });

  it("marks a crashed case errored and the unfinished suite after a panic errored", () => {
    const crash = leaves(parseKtap(fixture("kunit-test_is_test_passed-crash.log")).tests).find((t) => t.status === "errored");
    expect(crash).toMatchObject({ name: "example_simple_test", reason: "the test case crashed" });
    const panic = parseKtap(fixture("kunit-test_kernel_panic_interrupt.log"));
    const suite = panic.tests.find((t) => t.name === "string-stream-test");
    expect(suite?.status).toBe("errored");
    expect(suite?.children.map((c) => c.status)).toEqual(["passed", "errored", "errored"]);
    expect(panic.errors).toContain("string-stream-test: expected 3 tests, output ended after 1");
  });

  it("keeps skip reasons", () => {
    const skipped = leaves(parseKtap(fixture("kunit-test_skip_tests.log")).tests).filter((t) => t.status === "skipped");
    expect(skipped).toEqual([expect.objectContaining({ name: "example_skip_test", reason: "this test should be skipped", directive: "skip" })]);
  });
});

describe("KTAP parser on console output", () => {
  it("finds KTAP after firmware escape sequences and kernel log lines", () => {
    const console = [
      "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)",
      "Booting from ROM..",
      "[    0.000000] Linux version 6.1.0-26-amd64",
      "\x1b[0m[    1.250000] KTAP version 1",
      "[    1.250001] 1..1",
      "[    1.250002]     KTAP version 1",
      "[    1.250003]     # Subtest: demo",
      "[    1.250004]     1..2",
      "[    1.250005] random: crng init done",
      "[    1.250006]     ok 1 first",
      "[    1.250007]     not ok 2 second # TIMEOUT",
      "[    1.250008] not ok 1 demo",
      "[    1.300000] reboot: Power down",
    ].join("\r\n");
    const parsed = parseKtap(console);
    expect(parsed.counts).toEqual({ passed: 1, failed: 0, skipped: 0, errored: 1, total: 2 });
    const demo = parsed.tests[0]!;
    expect(demo.name).toBe("demo");
    expect(demo.children[0]!.log).toContain("random: crng init done");
    expect(demo.children[1]).toMatchObject({ name: "second", status: "errored", directive: "timeout" });
  });

  it("treats TODO and XFAIL as expected failures and keeps escaped #", () => {
    const parsed = parseKtap("KTAP version 1\n1..3\nnot ok 1 known bug # TODO fix later\nnot ok 2 flaky # XFAIL\nok 3 issue \\#42 fixed\n");
    expect(parsed.status).toBe("passed");
    expect(parsed.tests.map((t) => [t.name, t.status, t.directive])).toEqual([
      ["known bug", "passed", "todo"],
      ["flaky", "passed", "xfail"],
      ["issue #42 fixed", "passed", undefined],
    ]);
  });

  it("marks every planned but unreported test errored when output is cut", () => {
    const parsed = parseKtap("KTAP version 1\n1..4\nok 1 a\nok 2 b\n");
    expect(parsed.status).toBe("errored");
    expect(parsed.counts).toEqual({ passed: 2, failed: 0, skipped: 0, errored: 2, total: 4 });
  });

  it("reads nested KTAP v1 without subtest headers by indentation", () => {
    const parsed = parseKtap(["KTAP version 1", "1..2", "  KTAP version 1", "  ok 1 inner_a", "  ok 2 inner_b", "ok 1 outer", "ok 2 flat"].join("\n"));
    expect(parsed.tests.map((t) => [t.name, t.children.length])).toEqual([
      ["outer", 2],
      ["flat", 0],
    ]);
    expect(parsed.counts.total).toBe(3);
  });

  it("has no tests when no version line appears", () => {
    expect(parseKtap("just a boot log\nreboot: Power down\n")).toMatchObject({ status: "no_tests", counts: { total: 0 } });
  });
});

describe("format detection", () => {
  it.each([
    ["KTAP version 1\n1..0\n", "ktap"],
    ["[ 0.1] TAP version 14\n1..1\nok 1 x\n", "ktap"],
    ["TAP version 14\n1..1\nok 1 - x\n", "tap"],
    ["1..1\nok 1 - x\n", "tap"],
    ['<?xml version="1.0"?><testsuites></testsuites>', "junit"],
    ["<testsuite name='x'></testsuite>", "junit"],
    ["nothing here", null],
    ["TAP Version 13\n1..1\nok 1 x\n", "tap"],
    ["tap version 14\n1..1\nok 1 x\n", "tap"],
    ["KTAP VERSION 1\n1..0\n", "ktap"],
    ["[ 0.1] Tap Version 14\n1..1\nok 1 x\n", "ktap"],
    ["TAP version 14\n1..1\n    # Subtest: s\nok 1 s\n", "ktap"],
    ["TAP version 14\n1..1\n\tok 1 t\nok 1 s\n", "ktap"],
  ])("%j is %s", (text, format) => {
    expect(detectFormat(text)).toBe(format);
  });
});

describe("KTAP parser on unusual but real console output", () => {
  it("reads a version line in any letter case", () => {
    const parsed = parseKtap(
      "[    1.0] KTAP VERSION 1\n[    1.1] 1..1\n[    1.2]     ktap version 1\n[    1.3]     1..1\n[    1.4]     not ok 1 inner\n[    1.5] not ok 1 outer\n",
    );
    expect(parsed).toMatchObject({ status: "failed", errors: [] });
    expect(leaves(parsed.tests).map((t) => [...t.path, t.name])).toEqual([["outer", "inner"]]);
  });

  it("is skipped when every test was, and passed when some passed too", () => {
    expect(parseKtap("KTAP version 1\n1..2\nok 1 a # SKIP no device\nok 2 b # SKIP no device\n").status).toBe("skipped");
    expect(parseKtap("KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 a # SKIP\nok 1 suite\n").status).toBe("skipped");
    expect(parseKtap(fixture("kunit-test_skip_tests.log")).status).toBe("passed");
  });

  it("reads results past the top-level plan instead of dropping them", () => {
    const parsed = parseKtap("KTAP version 1\n1..3\nok 1 a\nok 2 b\nok 3 c\nnot ok 3 c\nreboot: Power down\n");
    expect(parsed.status).toBe("failed");
    expect(parsed.tests.map((t) => t.status)).toEqual(["passed", "passed", "passed", "failed"]);
    expect(parsed.errors).toEqual(["the run: planned 3 tests, got 4"]);
  });

  it.each([
    ["results out of order", "KTAP version 1\n1..3\nok 2 b\nnot ok 1 a\nok 3 c\n", "failed"],
    ["a `not ok` cut in the middle of its line", "KTAP version 1\n1..2\nok 1 a\nnot ok 2 bro", "failed"],
    ["a nested suite cut after a failure", "KTAP version 1\n1..1\n    KTAP version 1\n    1..3\n    not ok 1 a\n", "failed"],
    ["a relayed `# not ok` above the plan", "TAP version 13\n# not ok 1 early\n1..1\nok 1 prog\n", "failed"],
  ])("%s: %s", (_what, text, status) => {
    expect(parseKtap(text).status).toBe(status);
  });
});
