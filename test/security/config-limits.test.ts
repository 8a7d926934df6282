import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "@jest/globals";
import { configAtSha } from "../../src/app/trust/config-at-sha.js";
import type { Octokit } from "../../src/app/github/github-api.js";
import { buildPlan, ConfigError, loadConfigFile, parseConfig, type ConfigIssue } from "../../src/config/index.js";
import { withTempDir } from "../helpers/job.js";

const FILE = ".github/kto.yml";
const KTO = fileURLToPath(new URL("../../bin/kto.js", import.meta.url));

/** What the App reads at a pull request's head: here, whatever text the pull request chose. */
function repositoryWith(text: string): Octokit {
  const getContent = async () => ({ data: { type: "file", content: Buffer.from(text).toString("base64") } });
  return { rest: { repos: { getContent } } } as unknown as Octokit;
}

function issuesOf(text: string): ConfigIssue[] {
  try {
    buildPlan(parseConfig(text, FILE));
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

function messagesOf(text: string): string[] {
  return issuesOf(text).map((i) => `${i.file}:${i.line}:${i.column}: ${i.path}: ${i.message}`);
}

function matrixOf(keys: number, values: number): string {
  return `{ ${Array.from({ length: keys }, (_, k) => `k${k}: [${Array.from({ length: values }, (_, v) => v).join(", ")}]`).join(", ")} }`;
}

function suiteWithMatrix(name: string, matrix: string, extra = ""): string {
  return `  - name: ${name}\n    runner: docker\n    image: i\n    command: x\n${extra}    matrix: ${matrix}\n`;
}

describe("matrix bombs", () => {
  it("the App refuses five keys of ten values at the matrix's line, before a single job exists", async () => {
    const text = `version: 1\nsuites:\n${suiteWithMatrix("s", matrixOf(5, 10))}`;
    const result = await configAtSha(repositoryWith(text), "fork", "repo", "0".repeat(40));
    expect(result).toEqual({
      kind: "invalid",
      issues: [
        {
          file: FILE,
          line: 7,
          column: 13,
          path: "suites[0].matrix",
          message: "makes 100000 jobs (10 × 10 × 10 × 10 × 10); at most 256 per suite (limits.jobs_per_suite)",
        },
      ],
    });
  });

  it("counts a matrix far too big to build without building it", () => {
    const [issue] = issuesOf(`version: 1\nsuites:\n${suiteWithMatrix("s", matrixOf(40, 40))}`);
    expect(issue).toMatchObject({ line: 7, column: 13, path: "suites[0].matrix" });
    expect(issue!.message).toBe(`makes about 1.21e+64 jobs (${"40 × ".repeat(16)}…); at most 256 per suite (limits.jobs_per_suite)`);
  });

  it("caps the plan: the suite whose jobs cross jobs_per_plan is named, with the running total", () => {
    const suites = Array.from({ length: 5 }, (_, i) => suiteWithMatrix(`s${i}`, matrixOf(1, 250))).join("");
    expect(messagesOf(`version: 1\nsuites:\n${suites}`)).toEqual([
      `${FILE}:27:13: suites[4].matrix: brings the plan to 1250 jobs; at most 1024 per plan (limits.jobs_per_plan)`,
    ]);
  });

  it("lets a config raise or lower its caps, never past kto's ceiling", () => {
    const big = `version: 1\nlimits: { jobs_per_suite: 1000 }\nsuites:\n${suiteWithMatrix("s", matrixOf(3, 10))}`;
    expect(buildPlan(parseConfig(big)).jobs).toHaveLength(1000);

    const small = `version: 1\nlimits: { jobs_per_suite: 2 }\nsuites:\n${suiteWithMatrix("s", "{ a: [x, y, z] }")}`;
    expect(messagesOf(small)).toEqual([`${FILE}:8:13: suites[0].matrix: makes 3 jobs; at most 2 per suite (limits.jobs_per_suite)`]);

    const greedy = `version: 1\nlimits:\n  jobs_per_suite: 100000\n  jobs_per_plan: 1000000\nsuites:\n${suiteWithMatrix("s", "{ a: [x] }")}`;
    expect(messagesOf(greedy)).toEqual([
      `${FILE}:3:19: limits.jobs_per_suite: at most 1024, kto's ceiling (a pull request's config cannot go past it)`,
      `${FILE}:4:18: limits.jobs_per_plan: at most 4096, kto's ceiling (a pull request's config cannot go past it)`,
    ]);
  });

  it("refuses matrix values that make the same job name, at the matrix's line", () => {
    const text = `version: 1\nsuites:\n${suiteWithMatrix("s", '{ v: [1, "1"] }')}`;
    expect(messagesOf(text)).toEqual([`${FILE}:7:13: suites[0].matrix: (v="1") makes the job "s (v=1)" that (v=1) makes; make the values differ`]);
  });

  it("refuses matrix values that make the same job slug, within a suite or across suites", () => {
    const within = `version: 1\nsuites:\n${suiteWithMatrix("s", '{ v: ["a b", a_b] }')}`;
    expect(messagesOf(within)).toEqual([
      `${FILE}:7:13: suites[0].matrix: (v="a_b") makes the job slug "s-v-a_b" that (v="a b") makes (a slug keeps letters, digits, '.', '_' and '-'); make the values differ`,
    ]);
    const across = `version: 1\nsuites:\n  - { name: a-v-1, runner: docker, image: i, command: x }\n${suiteWithMatrix("a", "{ v: [1, 2] }")}`;
    expect(messagesOf(across)).toEqual([
      `${FILE}:8:13: suites[1].matrix: (v=1) makes the job slug "a-v-1" that suites[0] makes (a slug keeps letters, digits, '.', '_' and '-'); make the values differ`,
    ]);
  });

  it("the App gets a config error for colliding values, not a store error", async () => {
    const text = `version: 1\nsuites:\n${suiteWithMatrix("s", "{ v: [1, 1.0] }")}`;
    const result = await configAtSha(repositoryWith(text), "o", "r", "0".repeat(40));
    expect(result).toMatchObject({ kind: "invalid", issues: [{ line: 7, column: 13, path: "suites[0].matrix" }] });
  });

  it("refuses a job the App could not dispatch, and a plan too big to hold, at the suite", () => {
    const long = `version: 1\nsuites:\n  - { name: s, runner: docker, image: i, command: "${"x".repeat(70_000)}" }\n`;
    expect(messagesOf(long)).toEqual([
      `${FILE}:3:51: suites[0].command: takes the job past 60 KiB as JSON, the most a job may be (GitHub's limit on a dispatched workflow's inputs is 65,535 characters)`,
    ]);
    const repeated = `version: 1
suites:
  - name: s
    runner: docker
    image: i
    command: "${"${{ matrix.v }}".repeat(40)}"
    matrix: { v: [a, "${"v".repeat(2000)}"] }
`;
    expect(messagesOf(repeated)).toEqual([
      `${FILE}:6:14: suites[0].command: takes the job (v="${"v".repeat(38)}…) past 60 KiB as JSON, the most a job may be (GitHub's limit on a dispatched workflow's inputs is 65,535 characters)`,
    ]);
    const listed = `version: 1\nsuites:\n  - { name: s, runner: docker, image: i, command: [${Array(25_000).fill('""').join(", ")}] }\n`;
    const [overhead] = issuesOf(listed);
    expect(overhead).toMatchObject({ line: 3, column: 5, path: "suites[0]" });
    expect(overhead!.message).toMatch(
      /^makes a job of 7\d\.\d KiB as JSON; at most 60 KiB \(GitHub's limit on a dispatched workflow's inputs is 65,535 characters\)$/,
    );
    const wide = `version: 1\nlimits: { jobs_per_suite: 1024 }\nsuites:\n${suiteWithMatrix("s", matrixOf(2, 32), `    env: { BIG: "${"y".repeat(20_000)}" }\n`)}`;
    const [issue] = issuesOf(wide);
    expect(issue).toMatchObject({ line: 4, column: 5, path: "suites[0]" });
    expect(issue!.message).toMatch(/^brings the plan past 16 MiB of job specs as JSON \(at the plan's job \d+\); make its jobs smaller or fewer$/);
  });
});

/** Each anchor nine aliases of the one before: 9^(depth+1) copies of one scalar in a few hundred bytes. */
function billionLaughs(depth: number): string {
  const lines = ["version: 1", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let i = 1; i <= depth; i++)
    lines.push(
      `l${i}: &l${i} [${Array(9)
        .fill(`*l${i - 1}`)
        .join(", ")}]`,
    );
  lines.push("suites:", `  - { name: s, runner: docker, image: i, command: x, artifacts: *l${depth} }`);
  return `${lines.join("\n")}\n`;
}

describe("YAML resource exhaustion", () => {
  it("lists the first hundred problems of a config with thousands, and counts the rest", () => {
    const suites = Array.from({ length: 3000 }, (_, i) => `  - { name: s${i}, runner: docker }`).join("\n");
    const issues = issuesOf(`version: 1\nsuites:\n${suites}\n`);
    expect(issues).toHaveLength(101);
    expect(issues[0]).toMatchObject({ line: 3, path: "suites[0].image", message: "a docker suite needs an image" });
    expect(issues[100]).toMatchObject({ line: 53, path: "suites[50].image", message: "and 5900 more problems from here on" });
  });

  it("ten thousand suites naming none of ten thousand builds end quickly, each problem short", () => {
    const builds = Array.from({ length: 10_000 }, (_, i) => `  - { name: b${i}, config: [tinyconfig] }`).join("\n");
    const suites = Array.from({ length: 10_000 }, (_, i) => `  - { name: s${i}, runner: qemu, build: x${i} }`).join("\n");
    const started = Date.now();
    const issues = issuesOf(`version: 1\nbuilds:\n${builds}\nsuites:\n${suites}\n`);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(issues).toHaveLength(101);
    expect(issues[0]).toMatchObject({ path: "suites[0].build", message: 'no build named "x0" (have: b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 and 9990 more)' });
  });

  it("ten thousand suites each booting one of ten thousand builds plan quickly", () => {
    const builds = Array.from({ length: 2_000 }, (_, i) => `  - { name: b${i}, config: [tinyconfig], matrix: { v: [a] } }`).join("\n");
    const suites = Array.from({ length: 2_000 }, (_, i) => `  - { name: s${i}, runner: qemu, build: b${i}, matrix: { v: [a] } }`).join("\n");
    const started = Date.now();
    const plan = buildPlan(parseConfig(`version: 1\nlimits: { jobs_per_plan: 4096 }\nbuilds:\n${builds}\nsuites:\n${suites}\n`, FILE));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(plan.jobs).toHaveLength(4_000);
  });

  it("a billion laughs is a config error at the alias that goes too far, for the CLI and the App", async () => {
    const text = billionLaughs(9);
    expect(messagesOf(text)).toEqual([
      `${FILE}:7:20: l5[2]: alias *l4 takes the document past 250000 values, an alias counting as a copy of its anchor (an alias bomb?)`,
    ]);
    const result = await configAtSha(repositoryWith(text), "o", "r", "0".repeat(40));
    expect(result).toMatchObject({ kind: "invalid", issues: [{ line: 7, column: 20, path: "l5[2]" }] });
  });

  it("an alias to no anchor is a config error at the alias", () => {
    expect(messagesOf("version: 1\nsuites:\n  - { name: s, runner: docker, image: *img, command: x }\n")).toEqual([
      `${FILE}:3:39: suites[0].image: alias *img names no anchor before it`,
    ]);
  });

  it("refuses nesting deeper than kto reads, at the first node too deep, whatever the depth", () => {
    for (const depth of [65, 5_000, 200_000]) {
      const text = `version: 1\nsuites:\n  - name: s\n    env: ${"[".repeat(depth)}${"]".repeat(depth)}\n`;
      // The 62nd bracket is the 65th level: the root map, suites, the suite, then env's 62.
      expect(issuesOf(text)).toEqual([
        { file: FILE, line: 4, column: 71, path: `suites[0].env${"[0]".repeat(61)}`, message: "nested too deeply: kto reads at most 64 levels" },
      ]);
    }
  });

  it("refuses a file over 1 MiB before parsing it, from disk and from the App", async () => {
    const text = `version: 1\nsuites:\n  - { name: s, runner: docker, image: i, command: x }\n${"#".repeat(1024 * 1024)}\n`;
    const expected = { file: FILE, line: 1, column: 1, path: "", message: "is larger than 1 MiB, kto's limit for a config file" };
    await withTempDir(async (dir) => {
      const file = join(dir, "kto.yml");
      await writeFile(file, text);
      await expect(loadConfigFile(file)).rejects.toMatchObject({ issues: [{ ...expected, file }] });
    });
    const result = await configAtSha(repositoryWith(text), "o", "r", "0".repeat(40));
    expect(result).toEqual({ kind: "invalid", issues: [expected] });
  });
});

describe("kto validate on a matrix bomb", () => {
  it("exits 2 with the positioned error inside a 512 MiB heap, instead of running out of memory", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "kto.yml");
      await writeFile(file, `version: 1\nsuites:\n${suiteWithMatrix("s", matrixOf(10, 10))}`);
      const ended = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, ["--max-old-space-size=512", KTO, "validate", file], (_error, stdout, stderr) =>
          resolve({ code: child.exitCode, stdout, stderr }),
        );
      });
      expect(ended).toEqual({
        code: 2,
        stdout: "",
        stderr: `${file}:7:13: suites[0].matrix: makes 10000000000 jobs (10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10 × 10); at most 256 per suite (limits.jobs_per_suite)\n`,
      });
    });
  }, 60_000);
});
