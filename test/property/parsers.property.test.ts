import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { parseResults } from "../../src/runners/results/detect.js";
import { parseKtap } from "../../src/runners/results/ktap.js";
import { parseTap } from "../../src/runners/results/tap.js";
import { countLeaves } from "../../src/runners/results/types.js";

type Node = { name: string; ok: boolean; children: Node[] };

const tree: fc.Arbitrary<Node[]> = fc.letrec<{ nodes: Node[]; node: Node }>((tie) => ({
  node: fc.record({ name: fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/), ok: fc.boolean(), children: fc.oneof({ depthSize: "small" }, fc.constant<Node[]>([]), tie("nodes")) }),
  nodes: fc.array(tie("node"), { minLength: 1, maxLength: 4 }),
})).nodes;

function ktap(nodes: Node[], depth = 0): string[] {
  const pad = "    ".repeat(depth);
  const lines = [`${pad}KTAP version 1`, `${pad}1..${nodes.length}`];
  nodes.forEach((node, i) => {
    if (node.children.length) lines.push(...ktap(node.children, depth + 1));
    lines.push(`${pad}${node.ok ? "ok" : "not ok"} ${i + 1} ${node.name}`);
  });
  return lines;
}

function leafCounts(nodes: Node[]): { passed: number; failed: number } {
  let passed = 0;
  let failed = 0;
  for (const node of nodes) {
    if (node.children.length) {
      const inner = leafCounts(node.children);
      passed += inner.passed;
      failed += inner.failed;
    } else if (node.ok) passed += 1;
    else failed += 1;
  }
  return { passed, failed };
}

const garbage = fc.oneof(
  fc.string({ unit: "binary", maxLength: 400 }),
  fc.array(fc.constantFrom("KTAP version 1", "TAP version 14", "1..3", "ok 1 a", "not ok 2 b # SKIP", "    KTAP version 1", "# Subtest: x", "  ---", "  ...", "Bail out!", "<testsuite>", "\x1b[2J", "\t1..2"), { maxLength: 40 }).map((l) => l.join("\n")),
);

describe("result parsers", () => {
  it("never throw, on anything", () => {
    fc.assert(
      fc.property(garbage, fc.constantFrom("auto", "ktap", "tap", "junit") as fc.Arbitrary<"auto">, (text, format) => {
        const parsed = parseResults(text, format);
        expect(parsed.counts).toEqual(countLeaves(parsed.tests));
      }),
      { numRuns: 2000 },
    );
  });

  it("count the leaves of any well-formed KTAP tree, behind any timestamp prefix", () => {
    fc.assert(
      fc.property(tree, fc.boolean(), (nodes, stamped) => {
        const lines = ktap(nodes).map((l, i) => (stamped ? `[${String(i).padStart(5)}.000000] ${l}` : l));
        const parsed = parseKtap(lines.join("\n"));
        const expected = leafCounts(nodes);
        expect(parsed.counts.passed).toBe(expected.passed);
        expect(parsed.counts.failed).toBe(expected.failed);
        expect(parsed.counts.total).toBe(expected.passed + expected.failed);
        expect(parsed.errors).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it("mark output cut at any line as unfinished, never as passed", () => {
    fc.assert(
      fc.property(tree, fc.nat(), (nodes, cutAt) => {
        const lines = ktap(nodes);
        const cut = 2 + (cutAt % (lines.length - 1));
        fc.pre(cut < lines.length);
        const parsed = parseKtap(lines.slice(0, cut).join("\n"));
        expect(parsed.status === "errored" || parsed.status === "failed").toBe(true);
        expect(parsed.counts.total).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 500 },
    );
  });

  it("read a TAP 14 tree the same as its KTAP twin", () => {
    fc.assert(
      fc.property(tree, (nodes) => {
        const toTap = (ns: Node[], depth: number): string[] => {
          const pad = "    ".repeat(depth);
          const lines = [`${pad}1..${ns.length}`];
          ns.forEach((n, i) => {
            if (n.children.length) lines.push(`${pad}# Subtest: ${n.name}`, ...toTap(n.children, depth + 1));
            lines.push(`${pad}${n.ok ? "ok" : "not ok"} ${i + 1} - ${n.name}`);
          });
          return lines;
        };
        const tap = parseTap(["TAP version 14", ...toTap(nodes, 0)].join("\n"));
        expect(tap.counts).toEqual(parseKtap(ktap(nodes).join("\n")).counts);
      }),
      { numRuns: 300 },
    );
  });
});
