import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { parseKnownIssues } from "../../src/config/known-issues.js";
import { compareResults, comparisonExit } from "../../src/runners/history/comparison.js";
import { resultsSet } from "../../src/runners/history/results-set.js";
import { identityText, MAX_IDENTITY_PART_CHARS } from "../../src/runners/history/test-identity.js";

type Status = "passed" | "failed" | "skipped" | "errored";
const status = fc.constantFrom<Status>("passed", "failed", "skipped", "errored");
const failing = (s: Status | null) => s === "failed" || s === "errored";

/** One run: case name → status, some names absent. */
const run = fc.dictionary(fc.stringMatching(/^[a-h]$/), status, { maxKeys: 8 });

/** A job that ran to the end: failed when one of its cases failed, as kto run reports it. */
function set(source: string, cases: Record<string, Status>) {
  const anyFailed = Object.values(cases).some(failing);
  return resultsSet(source, [
    {
      name: "unit",
      suite: "unit",
      matrix: {},
      status: anyFailed ? "failed" : "succeeded",
      outcome: anyFailed ? "failed" : "passed",
      reason: "",
      cases: Object.entries(cases).map(([name, s]) => ({ path: ["suite"], name, status: s })),
    },
  ]);
}

const idOf = (name: string) => identityText({ job: "unit", path: ["suite"], name, occurrence: 1 });

describe("comparing a run with its baseline", () => {
  it("a regression is exactly a test failing now that passed on the baseline, and the exit says so", () => {
    fc.assert(
      fc.property(run, run, (base, head) => {
        const c = compareResults(set("base", base), set("head", head));
        const expected = Object.keys(head).filter((n) => failing(head[n]!) && base[n] === "passed");
        expect(
          c.tests
            .filter((t) => t.class === "new")
            .map((t) => t.id)
            .sort(),
        ).toEqual(expected.map(idOf).sort());

        // Every head test is counted once: classified or unchanged.
        expect(c.tests.length + c.unchanged).toBe(Object.keys(head).length + 1 /* the job's own case */);
        // A new test that fails gates as a regression does; a test that passed and is gone makes the answer incomplete.
        const newFailing = Object.keys(head).filter((n) => failing(head[n]!) && (base[n] === undefined || base[n] === "skipped"));
        const gone = Object.keys(base).filter((n) => base[n] === "passed" && !(n in head));
        expect(comparisonExit(c)).toBe(expected.length > 0 || newFailing.length > 0 ? 1 : gone.length > 0 ? 2 : 0);
        expect(Object.values(c.counts).reduce((a, b) => a + b, 0)).toBe(c.tests.length);
      }),
    );
  });

  it("swapping baseline and head turns each regression into a fix and back", () => {
    fc.assert(
      fc.property(run, run, (a, b) => {
        const forward = compareResults(set("a", a), set("b", b));
        const backward = compareResults(set("b", b), set("a", a));
        const ids = (c: typeof forward, cls: string) =>
          c.tests
            .filter((t) => t.class === cls)
            .map((t) => t.id)
            .sort();
        // Fixed in one direction, failing-after-passing in the other, for the pass/fail pairs.
        const newForward = ids(forward, "new").filter((id) => b[id.split(" › ").at(-1)!] === "failed");
        expect(newForward.every((id) => ids(backward, "fixed").includes(id))).toBe(true);
        expect(ids(backward, "fixed").every((id) => ids(forward, "new").includes(id))).toBe(true);
      }),
    );
  });

  it("a failure a known issue covers is never a regression, whatever the baseline said", () => {
    const known = parseKnownIssues("version: 1\nknown:\n  - tests: ['suite › a', 'suite › b', 'suite › c', 'suite › d']\n");
    fc.assert(
      fc.property(run, run, (base, head) => {
        const c = compareResults(set("base", base), set("head", head), { known });
        for (const t of c.tests) if (/› [a-d]$/.test(t.id) && failing(t.head)) expect(t.class).toBe("known");
      }),
    );
  });

  it("identities stay bounded and apart for names of any length", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 12_000 }), fc.string({ maxLength: 40 }), (name, tail) => {
        const one = identityText({ job: "s[arch=x86_64]", path: ["p"], name, occurrence: 1 });
        const other = identityText({ job: "s[arch=x86_64]", path: ["p"], name: name + "x" + tail, occurrence: 1 });
        expect(one).not.toBe(other);
        for (const part of one.split(" › ")) expect(part.length).toBeLessThanOrEqual(MAX_IDENTITY_PART_CHARS);
      }),
      { numRuns: 200 },
    );
  });

  it("two tests with one identity in a run are both kept, told apart, and counted", () => {
    const s = resultsSet("dup", [
      {
        name: "unit",
        suite: "unit",
        matrix: {},
        status: "failed",
        outcome: "failed",
        reason: "",
        cases: [
          { path: [], name: "t", status: "passed" },
          { path: [], name: "t", status: "failed" },
        ],
      },
    ]);
    expect(s.duplicates).toBe(1);
    expect([...s.cases.values()].map((c) => c.id)).toEqual(["unit › (job)", "unit › t", "unit › t (#2)"]);
  });
});
