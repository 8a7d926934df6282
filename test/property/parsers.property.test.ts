import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { parseResults } from "../../src/runners/results/detect.js";
import { parseKtap } from "../../src/runners/results/ktap.js";
import { parseTap } from "../../src/runners/results/tap.js";
import { countLeaves } from "../../src/runners/results/types.js";

type Node = { name: string; ok: boolean; children: Node[] };

const tree: fc.Arbitrary<Node[]> = fc.letrec<{ nodes: Node[]; node: Node }>((tie) => ({
  node: fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/),
    ok: fc.boolean(),
    children: fc.oneof({ depthSize: "small" }, fc.constant<Node[]>([]), tie("nodes")),
  }),
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
  fc
    .array(
      fc.constantFrom(
        "KTAP version 1",
        "TAP version 14",
        "1..3",
        "ok 1 a",
        "not ok 2 b # SKIP",
        "    KTAP version 1",
        "# Subtest: x",
        "  ---",
        "  ...",
        "Bail out!",
        "<testsuite>",
        "\x1b[2J",
        "\t1..2",
      ),
      { maxLength: 40 },
    )
    .map((l) => l.join("\n")),
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

type Entry = { name: string; ok: boolean; directive: "SKIP" | "TODO" | null; children: Entry[] };

const entries: fc.Arbitrary<Entry[]> = fc.letrec<{ entries: Entry[]; entry: Entry }>((tie) => ({
  entry: fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/),
    ok: fc.boolean(),
    directive: fc.constantFrom(null, null, "SKIP" as const, "TODO" as const),
    children: fc.oneof({ depthSize: "small" }, fc.constant<Entry[]>([]), tie("entries")),
  }),
  entries: fc.array(tie("entry"), { minLength: 1, maxLength: 4 }),
})).entries;

const result = (entry: Entry, number: number, name: string) =>
  `${entry.ok ? "ok" : "not ok"} ${number} ${name}${entry.directive ? ` # ${entry.directive} why` : ""}`;

/** The same tree as each kind of producer prints it, without its first (version) line. */
const shapes = {
  ktap: (es: Entry[], depth = 0): string[] => {
    const pad = "    ".repeat(depth);
    const nested = es.flatMap((e, i) => [
      ...(e.children.length ? [`${pad}    KTAP version 1`, ...shapes.ktap(e.children, depth + 1)] : []),
      pad + result(e, i + 1, e.name),
    ]);
    return [`${pad}1..${es.length}`, ...nested];
  },
  tap14: (es: Entry[], depth = 0): string[] => {
    const pad = "    ".repeat(depth);
    const nested = es.flatMap((e, i) => [
      ...(e.children.length ? [`${pad}# Subtest: ${e.name}`, ...shapes.tap14(e.children, depth + 1)] : []),
      pad + result(e, i + 1, `- ${e.name}`),
    ]);
    return [`${pad}1..${es.length}`, ...nested];
  },
  kselftest: (es: Entry[], depth = 0): string[] => {
    const pad = "# ".repeat(depth);
    const nested = es.flatMap((e, i) => [
      ...(depth === 0 ? [`# selftests: suite: ${e.name}`] : []),
      ...(e.children.length ? shapes.kselftest(e.children, depth + 1) : []),
      pad + result(e, i + 1, depth === 0 ? `selftests: suite: ${e.name}` : e.name),
    ]);
    return [`${pad}1..${es.length}`, ...nested];
  },
};
const versions = { ktap: "KTAP version 1", tap14: "TAP version 14", kselftest: "TAP version 13" };

type Mutation =
  | { kind: "drop"; at: number }
  | { kind: "truncate"; at: number }
  | { kind: "duplicate"; at: number; flip: boolean }
  | { kind: "swap"; at: number; with: number }
  | { kind: "cut"; at: number; keep: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), flip: fc.boolean() }),
  fc.record({ kind: fc.constant("swap" as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), keep: fc.nat() }),
);

/** Mutates the lines after the version line, which stays: without it there is no document. */
function mutate(lines: string[], mutations: Mutation[]): string[] {
  const body = lines.slice(1);
  for (const m of mutations) {
    if (body.length === 0) break;
    const at = m.at % body.length;
    if (m.kind === "drop") body.splice(at, 1);
    else if (m.kind === "truncate") body.splice(at);
    else if (m.kind === "duplicate") {
      const line = body[at]!;
      const flipped = line.includes("not ok ") ? line.replace("not ok ", "ok ") : line.replace(/^([ #]*)ok /, "$1not ok ");
      body.splice(at + 1, 0, m.flip ? flipped : line);
    } else if (m.kind === "swap") {
      const other = m.with % body.length;
      [body[at], body[other]] = [body[other]!, body[at]!];
    } else body[at] = body[at]!.slice(0, m.keep % (body[at]!.length + 1));
  }
  return [lines[0]!, ...body];
}

/** A result line that says `not ok` and carries no directive, however it was cut. */
const PLAIN_NOT_OK = /^[ ]*(?:# )*not ok \d+(?: [^#]*)?$/;

describe("parsers: a not-ok line is never hidden by trimming, duplication or reordering", () => {
  it("fail or error any output that still holds a plain `not ok` line, in every reader", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("ktap" as const, "tap14" as const, "kselftest" as const),
        entries,
        fc.array(mutation, { maxLength: 6 }),
        fc.boolean(),
        (shape, tree, mutations, stamped) => {
          const lines = mutate([versions[shape], ...shapes[shape](tree)], mutations);
          fc.pre(lines.some((line) => PLAIN_NOT_OK.test(line)));
          const text = lines.map((line, i) => (stamped ? `[${String(i).padStart(5)}.000000] ${line}` : line)).join("\n");
          const readers = [parseResults(text), parseKtap(text), ...(stamped ? [] : [parseTap(text)])];
          for (const parsed of readers) expect(parsed.status).toMatch(/^(failed|errored)$/);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
