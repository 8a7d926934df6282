import { runInNewContext } from "node:vm";
import { describe, expect, it } from "@jest/globals";
import { detectFormat, parseResults } from "../../src/runners/results/detect.js";
import { parseKtap } from "../../src/runners/results/ktap.js";
import { parseTap } from "../../src/runners/results/tap.js";
import { leaves, MAX_NESTING } from "../../src/runners/results/types.js";

/**
 * Runs `work` under V8's watchdog, which stops even a synchronous call: jest's timeout only
 * fires between calls, so it would wait out a quadratic parse and then report a pass.
 */
function within<T>(seconds: number, work: () => T): T {
  return runInNewContext("work()", { work }, { timeout: seconds * 1000 }) as T;
}

describe("parsing stays linear on hostile or huge output", () => {
  // Each input is sized so that the code this replaced overran the watchdog or the stack.
  const blank = "\n".repeat(400_000);

  it("detects and parses 400,000 blank lines around a few results", () => {
    const text = `TAP version 13\n1..2\n${blank}ok 1 a\n${blank}not ok 2 b\n`;
    const [format, parsed] = within(20, () => [detectFormat(text), parseResults(text)] as const);
    expect(format).toBe("tap");
    expect(parsed).toMatchObject({ status: "failed", counts: { passed: 1, failed: 1, total: 2 } });
    const kernel = within(20, () => parseKtap(`[ 0.1] KTAP version 1\n[ 0.2] 1..1\n${blank}[ 0.3] not ok 1 a\n`));
    expect(kernel).toMatchObject({ status: "failed", counts: { failed: 1, total: 1 } });
  });

  it("counts 200,000 results, nested or not, without spreading them into one call", () => {
    const many = Array.from({ length: 200_000 }, (_, i) => `    ok ${i + 1} t${i}`).join("\n");
    for (const parsed of [
      within(20, () => parseKtap(`KTAP version 1\n1..1\n    KTAP version 1\n    1..200000\n${many}\nok 1 suite\n`)),
      within(20, () => parseTap(`TAP version 14\n1..1\n# Subtest: suite\n    1..200000\n${many}\nok 1 - suite\n`)),
    ]) {
      expect(parsed).toMatchObject({ status: "passed", counts: { passed: 200_000, total: 200_000 } });
      expect(leaves(parsed.tests)).toHaveLength(200_000);
    }
  });

  it.each([
    ["a result line", (pad: string) => parseKtap(`KTAP version 1\n1..1\nnot ok 1${pad}name\u2028more\n`), "failed"],
    ["a directive", (pad: string) => parseKtap(`KTAP version 1\n1..1\nok 1 name # SKIP${pad}why\u2028more\n`), "skipped"],
    ["a TAP plan", (pad: string) => parseTap(`TAP version 13\n1..1 #${pad}x\u2028y\nnot ok 1 - a\n`), "failed"],
    ["a TAP subtest header", (pad: string) => parseTap(`TAP version 14\n# Subtest:${pad}x\u2028y\nnot ok 1 - a\n`), "failed"],
  ])("reads %s with a long run of spaces and a U+2028 in one line", (_what, parse, status) => {
    expect(within(20, () => parse(" ".repeat(400_000))).status).toBe(status);
  });

  it("does not rescan the output for every unclosed YAML block", () => {
    const text = `TAP version 13\n${"ok 1 - a\n  ---\n".repeat(50_000)}`;
    expect(within(20, () => parseTap(text))).toMatchObject({ status: "passed", counts: { total: 50_000 } });
  });

  it("allocates no stand-in per number of a forged plan", () => {
    const parsed = within(20, () => parseKtap("KTAP version 1\n1..4000000000\nnot ok 1 a\n"));
    expect(parsed.status).toBe("failed");
    expect(parsed.counts.total).toBeLessThanOrEqual(100_003);
    expect(parsed.tests.at(-1)!.name).toBe("(tests 100003 to 4000000000 never reported)");
  });

  it("reads nesting deeper than it follows one level up, without overflowing the stack", () => {
    const ktap = within(20, () => parseKtap(`KTAP version 1\n${"# Subtest: s\n1..1\n".repeat(50_000)}not ok 1 s\n`));
    expect(ktap.status).toBe("failed");
    expect(ktap.errors).toContain(`tests nested deeper than ${MAX_NESTING} levels were read one level up`);
    const lines = Array.from({ length: 2 * MAX_NESTING }, (_, depth) => `${" ".repeat(4 * depth)}not ok 1 - level${depth}`);
    const tap = within(20, () => parseTap(`TAP version 14\n${lines.join("\n")}\n`));
    expect(tap.status).toBe("failed");
    expect(tap.errors).toContain(`tests nested deeper than ${MAX_NESTING} levels were read one level up`);
    expect(leaves(tap.tests).map((t) => t.name)).toContain(`level${2 * MAX_NESTING - 1}`);
  });
});
