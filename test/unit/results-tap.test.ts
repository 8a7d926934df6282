import { describe, expect, it } from "@jest/globals";
import { parseTap } from "../../src/runners/results/tap.js";
import { leaves } from "../../src/runners/results/types.js";

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
  });

  it("reports an unfinished subtest as errored", () => {
    const parsed = parseTap("TAP version 14\n1..1\n# Subtest: deep\n    1..2\n    ok 1 - one\n");
    expect(parsed.status).toBe("errored");
    expect(parsed.tests[0]).toMatchObject({ name: "deep", status: "errored" });
  });
});
