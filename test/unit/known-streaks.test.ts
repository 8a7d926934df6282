import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { parseKnownIssues } from "../../src/config/known-issues.js";
import { compileTestGlob, testGlobPrefix } from "../../src/config/test-glob.js";
import { KNOWN_PASSES_TO_REMOVE, knownIssuesPassing } from "../../src/runners/history/known-streaks.js";
import { resultsSet } from "../../src/runners/history/results-set.js";
import { webLink } from "../../src/runners/report/markdown.js";

type Case = { path: string[]; name: string; status: "passed" | "failed" | "skipped" | "errored" };

/** One run of job `suite` with these cases, as history keeps it. */
function run(cases: Case[], suite = "net", matrix: Record<string, string> = {}) {
  return resultsSet("run", [{ name: suite, suite, matrix, status: "failed", outcome: "failed", reason: "", cases }]);
}

const KNOWN = `version: 1
known:
  - { tests: "forwarding › router*", link: "https://lore.kernel.org/r/1" }
  - { tests: "forwarding › tc_flower", intermittent: true }
  - { tests: "*mirror*" }
  - { tests: "forwarding › gone" }
`;

/** Each run at a commit of its own, newest first. */
const commits = (runs: ReturnType<typeof run>[]) => runs.map((set, i) => ({ commit: `c${i}`, set }));

const passing = (over: Partial<Record<string, Case["status"]>> = {}): Case[] =>
  Object.entries<Case["status"] | undefined>({
    router_bridge: "passed",
    router_vid: "passed",
    tc_flower: "passed",
    mirror_gre: "passed",
    other: "failed",
    ...over,
  }).map(([name, status]) => ({ path: ["forwarding"], name, status: status! }));

describe("known issues whose tests have passed many runs in a row", () => {
  const known = parseKnownIssues(KNOWN);

  it("names an entry once its tests passed in each of the last runs, never an intermittent one or one whose tests never ran", () => {
    const runs = Array.from({ length: KNOWN_PASSES_TO_REMOVE }, () => run(passing()));
    const { issues, unchecked } = knownIssuesPassing(known, commits(runs));
    expect(unchecked).toBe(0);
    expect(issues).toEqual([
      {
        entry: 0,
        link: "https://lore.kernel.org/r/1",
        commits: KNOWN_PASSES_TO_REMOVE,
        tests: ["net › forwarding › router_bridge", "net › forwarding › router_vid"],
      },
      { entry: 2, commits: KNOWN_PASSES_TO_REMOVE, tests: ["net › forwarding › mirror_gre"] },
    ]);
  });

  it("counts from the newest run back to the last failure of any test the entry covers", () => {
    const newestFirst = [
      ...Array.from({ length: KNOWN_PASSES_TO_REMOVE - 1 }, () => run(passing())),
      run(passing({ router_vid: "errored" })),
      ...Array.from({ length: 5 }, () => run(passing())),
    ];
    expect(knownIssuesPassing(known, commits(newestFirst)).issues.map((i) => [i.entry, i.commits])).toEqual([[2, KNOWN_PASSES_TO_REMOVE + 5]]);
  });

  it("a run that did not run the entry's tests neither counts nor breaks the passes; a skip is not a pass", () => {
    const without = run(passing({ router_bridge: "skipped", router_vid: "skipped" }));
    const other = run([{ path: ["example"], name: "case", status: "failed" }], "kunit");
    const runs = [without, other, ...Array.from({ length: KNOWN_PASSES_TO_REMOVE }, () => run(passing()))];
    const router = knownIssuesPassing(known, commits(runs)).issues.find((i) => i.entry === 0);
    expect(router?.commits).toBe(KNOWN_PASSES_TO_REMOVE);
  });

  it("keeps to the entry's scope: a failure in a job of another arch does not end the passes of this one", () => {
    const scoped = parseKnownIssues(`version: 1\nknown:\n  - { tests: "forwarding › router*", arch: arm64 }\n`);
    const arm = () => run(passing(), "net", { arch: "arm64" });
    const x86Failing = run(passing({ router_vid: "failed" }), "net", { arch: "x86_64" });
    const runs = [arm(), x86Failing, ...Array.from({ length: KNOWN_PASSES_TO_REMOVE - 1 }, arm)];
    expect(knownIssuesPassing(scoped, commits(runs)).issues.map((i) => i.commits)).toEqual([KNOWN_PASSES_TO_REMOVE]);
    const armFailing = run(passing({ router_vid: "failed" }), "net", { arch: "arm64" });
    expect(knownIssuesPassing(scoped, commits(runs.map((r) => (r === x86Failing ? armFailing : r)))).issues).toHaveLength(0);
  });

  it("counts commits, not runs: runs again at one commit count once", () => {
    const runs = Array.from({ length: KNOWN_PASSES_TO_REMOVE * 2 }, (_, i) => ({ commit: `c${Math.floor(i / 2)}`, set: run(passing()) }));
    expect(knownIssuesPassing(known, runs).issues.map((i) => i.commits)).toEqual([KNOWN_PASSES_TO_REMOVE, KNOWN_PASSES_TO_REMOVE]);
    expect(knownIssuesPassing(known, runs.slice(0, KNOWN_PASSES_TO_REMOVE * 2 - 2)).issues).toEqual([]);
  });

  it("says nothing with fewer runs than it takes", () => {
    expect(knownIssuesPassing(known, commits([run(passing())])).issues).toEqual([]);
  });

  it("bounds its work on many tests: globs with a literal start look only at their names, one starting with * is given up and counted", () => {
    const many: Case[] = Array.from({ length: 300_000 }, (_, i) => ({ path: ["big"], name: `case_${i}`, status: "passed" }));
    many.push({ path: ["forwarding"], name: "router_bridge", status: "passed" });
    const big = run(many);
    const runs = Array.from({ length: KNOWN_PASSES_TO_REMOVE }, () => big);
    const literal = knownIssuesPassing(parseKnownIssues(`version: 1\nknown:\n  - { tests: "forwarding › router*" }\n`), commits(runs));
    expect(literal).toEqual({ issues: [{ entry: 0, commits: KNOWN_PASSES_TO_REMOVE, tests: ["net › forwarding › router_bridge"] }], unchecked: 0 });
    const wild = knownIssuesPassing(parseKnownIssues(`version: 1\nknown:\n  - { tests: "*router_bridge" }\n  - { tests: "forwarding › x" }\n`), commits(runs));
    expect(wild).toEqual({ issues: [], unchecked: 2 });
  });
});

describe("a glob's literal start", () => {
  it("stops at the first wildcard and takes an escaped one as itself", () => {
    expect(testGlobPrefix("selftests: net: *.sh")).toBe("selftests: net: ");
    expect(testGlobPrefix("a\\*b?c")).toBe("a*b");
    expect(testGlobPrefix("*x")).toBe("");
  });

  it("Property: every name a glob matches starts with its literal start", () => {
    const chars = fc.constantFrom("a", "b", "*", "?", "\\", " ", "›");
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 8 }), fc.array(fc.constantFrom("a", "b", " ", "*", "?", "\\", "›"), { maxLength: 10 }), (p, t) => {
        const pattern = p.join("");
        let matches: (text: string) => boolean;
        try {
          matches = compileTestGlob(pattern);
        } catch {
          return true;
        }
        const text = t.join("");
        return !matches(text) || text.startsWith(testGlobPrefix(pattern));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("a known issue's link", () => {
  it("cannot end its Markdown link early or add one of its own", () => {
    expect(webLink("Known issue #1", "https://x.test/a)![i](https://evil.test/p.png")).toBe(
      "[Known issue #1](https://x.test/a%29!%5Bi%5D%28https://evil.test/p.png)",
    );
    expect(webLink("report", "ftp://x.test/a")).toBe("report \\(ftp://x.test/a\\)");
  });
});
