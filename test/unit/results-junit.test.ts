import { describe, expect, it } from "@jest/globals";
import { parseJunit } from "../../src/runners/results/junit.js";
import { leaves } from "../../src/runners/results/types.js";

describe("JUnit XML parser", () => {
  it("reads nested suites, failures, errors and skips with times and locations", () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="net" time="1.5">
    <testsuite name="ipv4">
      <testcase name="ping" classname="net.ipv4" time="0.25"/>
      <testcase name="route" time="0.5" file="net/route.c" line="88"><failure message="bad route">expected gw 10.0.0.1</failure></testcase>
    </testsuite>
    <testcase name="crash"><error message="segfault"/></testcase>
    <testcase name="ipv6"><skipped message="no ipv6"/></testcase>
    <testcase name="empty-failure"><failure/></testcase>
  </testsuite>
</testsuites>`;
    const parsed = parseJunit(xml);
    expect(parsed.counts).toEqual({ passed: 1, failed: 2, skipped: 1, errored: 1, total: 5 });
    const all = leaves(parsed.tests);
    expect(all.find((t) => t.name === "ping")).toMatchObject({ path: ["net", "ipv4"], durationMs: 250, status: "passed" });
    expect(all.find((t) => t.name === "route")).toMatchObject({
      status: "failed",
      reason: "bad route\nexpected gw 10.0.0.1",
      location: { file: "net/route.c", line: 88 },
    });
    expect(all.find((t) => t.name === "crash")).toMatchObject({ status: "errored", reason: "segfault" });
    expect(all.find((t) => t.name === "ipv6")).toMatchObject({ status: "skipped", reason: "no ipv6" });
    expect(all.find((t) => t.name === "empty-failure")).toMatchObject({ status: "failed", reason: "failed" });
  });

  it("accepts a lone testsuite root", () => {
    expect(parseJunit('<testsuite name="s"><testcase name="a"/></testsuite>').counts.passed).toBe(1);
  });

  it("does not throw on truncated XML", () => {
    const parsed = parseJunit('<testsuites><testsuite name="s"><testcase name="a"');
    expect(["errored", "no_tests"]).toContain(parsed.status);
  });
});
