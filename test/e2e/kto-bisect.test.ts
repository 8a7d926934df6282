import { execFile, spawn } from "node:child_process";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "@jest/globals";
import { withTempDir } from "../helpers/job.js";

/**
 * `kto bisect` on a real git history and real Docker runs: a repository whose suite runs a
 * script of its own printing TAP. One commit breaks test alpha, test flaky fails at random
 * throughout, and some commits' builds (a Makefile the builder image runs) fail.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KTO = join(ROOT, "bin", "kto.js");
/** kto bisect keeps its store in the repository's git directory: no KTO_DATA_DIR to clean up. */
const ENV = { ...process.env, CI: "1" };
const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "Ada Author",
  GIT_AUTHOR_EMAIL: "ada@example.org",
  GIT_COMMITTER_NAME: "Ada Author",
  GIT_COMMITTER_EMAIL: "ada@example.org",
  GIT_CONFIG_NOSYSTEM: "1",
};

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function kto(args: string[], cwd: string): Promise<Result> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [KTO, ...args], { cwd, env: ENV, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("git", ["-c", "commit.gpgsign=false", ...args], { cwd, env: GIT_ENV, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

const CONFIG = [
  "version: 1",
  "defaults: { timeout: 2m }",
  "builds:",
  "  - name: kernel",
  "    arch: x86_64",
  "    config: [tinyconfig]",
  "suites:",
  "  - name: unit",
  "    runner: docker",
  "    image: kto/busybox:1",
  "    results: tap",
  "    command: sh /workspace/tests.sh",
  "triggers: { pull_request: all }",
  "",
].join("\n");

/** A tree the builder image builds in a moment; `broken` fails as a compiler error would. */
function makefile(broken: boolean): string {
  const image = broken
    ? ["\t@echo \"init/main.c:3:1: error: expected ';' before '}' token\"", "\t@false"]
    : ["\t@mkdir -p $(O)/arch/x86/boot && echo kernel > $(O)/arch/x86/boot/bzImage", "\t@echo elf > $(O)/vmlinux && echo map > $(O)/System.map"];
  return [
    "O ?= .",
    "tinyconfig defconfig:",
    "\t@printf 'CONFIG_64BIT=y\\n' > $(O)/.config",
    "olddefconfig:",
    "\t@test -f $(O)/.config",
    "bzImage:",
    ...image,
    "",
  ].join("\n");
}

function tests(alphaBroken: boolean, flaky = true): string {
  return [
    "#!/bin/sh",
    'echo "TAP version 13"',
    'echo "1..3"',
    `echo "${alphaBroken ? "not ok" : "ok"} 1 alpha"`,
    // Flaky throughout: judging by any failure would blame whichever commit it happened to fail at.
    flaky ? 'if [ $((RANDOM % 2)) -eq 0 ]; then echo "ok 2 flaky"; else echo "not ok 2 flaky"; fi' : 'echo "ok 2 flaky"',
    'echo "ok 3 gamma"',
    "",
  ].join("\n");
}

/** Commits 0..count-1; alpha fails from `breaksAt` on; the commits in `unbuildable` do not build. Returns the hashes. */
async function repository(dir: string, count: number, breaksAt: number, unbuildable: number[], flaky = true): Promise<string[]> {
  await git(dir, "init", "-q", "-b", "main");
  await mkdir(join(dir, ".github"));
  await mkdir(join(dir, "init"));
  await writeFile(join(dir, ".github", "kto.yml"), CONFIG);
  await writeFile(join(dir, "init", "main.c"), "int main(void)\n{\n\treturn 0;\n}\n");
  const hashes: string[] = [];
  for (let i = 0; i < count; i++) {
    await writeFile(join(dir, "Makefile"), makefile(unbuildable.includes(i)));
    await writeFile(join(dir, "tests.sh"), tests(i >= breaksAt, flaky));
    await writeFile(join(dir, "counter.txt"), `${i}\n`);
    await git(dir, "add", "-A");
    const subject = i === breaksAt ? "alpha: change the default" : unbuildable.includes(i) ? `build: rework step ${i}` : `step ${i}`;
    await git(dir, "commit", "-q", "-m", subject);
    hashes.push((await git(dir, "rev-parse", "HEAD")).trim());
  }
  return hashes;
}

/** What the developer's checkout looks like: kto bisect must leave it exactly so. */
async function checkout(dir: string): Promise<{ head: string; status: string; worktrees: number; refs: string }> {
  return {
    head: (await git(dir, "rev-parse", "HEAD")).trim(),
    status: await git(dir, "status", "--porcelain"),
    worktrees: (await git(dir, "worktree", "list")).trim().split("\n").length,
    refs: await git(dir, "for-each-ref"),
  };
}

interface Outcome {
  first_bad: { hash: string; subject: string; author: string } | null;
  confidence: number | null;
  steps: { commit: string; verdict: string; passed: number; failed: number; runs: number; seconds: number }[];
  skipped: { commit: string; subject: string; reason: string }[];
  candidates?: { hash: string }[];
}

describe("kto bisect", () => {
  it(
    "names the commit that broke the test, skipping commits that do not build, unmoved by a flaky test, and leaves the checkout as it was",
    () =>
      withTempDir(async (dir) => {
        const hashes = await repository(dir, 30, 19, [14, 22]);
        // Uncommitted work is not tested, and is left alone.
        await writeFile(join(dir, "counter.txt"), "uncommitted\n");
        const before = await checkout(dir);

        const json = await kto(["bisect", "--good", hashes[0]!, "--bad", "main", "--test", "alpha", "--json"], dir);
        expect(json.stderr).toContain("warning: 1 uncommitted changes are not tested");
        expect(json.code).toBe(0);
        const data = JSON.parse(json.stdout) as Outcome;
        expect(data.first_bad).toEqual({ hash: hashes[19], subject: "alpha: change the default", author: "Ada Author <ada@example.org>" });
        expect(data.confidence).toBe(1);
        expect(data.skipped.map((s) => s.commit)).toEqual([hashes[14], hashes[22]]);
        expect(data.skipped[0]!.reason).toMatch(/^does not build: build kernel failed/);
        // Both ends first, then the search; the culprit's parent was tested good.
        expect(data.steps.slice(0, 2).map((s) => [s.commit, s.verdict])).toEqual([
          [hashes[29], "bad"],
          [hashes[0], "good"],
        ]);
        expect(data.steps.find((s) => s.commit === hashes[18])).toMatchObject({ verdict: "good", passed: 1, failed: 0 });
        expect(data.steps.length).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(29)) + 2);
        expect(await checkout(dir)).toEqual(before);

        const text = await kto(["bisect", "--good", hashes[0]!, "--bad", "main", "--test", "unit › alpha"], dir);
        expect(text.code).toBe(0);
        expect(text.stdout).toContain(
          `kto bisect: first bad commit: ${hashes[19]}\n  subject:    alpha: change the default\n  author:     Ada Author <ada@example.org>\n`,
        );
        expect(text.stdout).toContain("confidence: 1.00 (1 of 1 runs failed at the culprit × 1 of 1 passed at its parent)");
        expect(text.stdout).toMatch(new RegExp(`skipped: {4}2 commits\\n {4}${hashes[14]!.slice(0, 12)} build: rework step 14: does not build`));
        expect(text.stdout).toMatch(new RegExp(`^${hashes[19]!.slice(0, 12)} +bad +0/1 +[\\d.]+ +alpha: change the default$`, "m"));
        expect(text.stderr).toContain(`kto bisect: testing ${hashes[29]!.slice(0, 12)} step 29`);
        expect(await checkout(dir)).toEqual(before);
        await expect(stat(join(dir, ".git", "kto-bisect"))).rejects.toThrow("ENOENT");
      }),
    240_000,
  );

  it(
    "without --test judges a commit by its suites failing, and with --runs 3 runs each commit three times",
    () =>
      withTempDir(async (dir) => {
        const hashes = await repository(dir, 12, 7, [], false);
        const result = await kto(["bisect", "--good", hashes[0]!, "--bad", "main", "--runs", "3", "--json"], dir);
        expect(result.code).toBe(0);
        const data = JSON.parse(result.stdout) as Outcome;
        expect(data.first_bad?.hash).toBe(hashes[7]);
        expect(data.steps.every((s) => s.runs === 3 && (s.verdict === "good" ? s.failed === 0 : s.passed === 0))).toBe(true);
        expect(result.stderr).toContain("run 3: fail in");
        expect(result.stderr).toContain("unit failed");
      }),
    240_000,
  );

  it(
    "is inconclusive, exit 1, when only an unbuildable commit separates the culprit from a good one, and names both",
    () =>
      withTempDir(async (dir) => {
        const hashes = await repository(dir, 30, 19, [14, 18, 22]);
        const result = await kto(["bisect", "--good", hashes[0]!, "--bad", "main", "--test", "alpha", "--json"], dir);
        expect(result.code).toBe(1);
        const data = JSON.parse(result.stdout) as Outcome;
        expect(data.first_bad).toBeNull();
        expect(data.confidence).toBeNull();
        expect(data.candidates?.map((c) => c.hash)).toEqual([hashes[18], hashes[19]]);
        expect(data.skipped.map((s) => s.commit)).toEqual([hashes[14], hashes[22], hashes[18]]);
        const text = await kto(["bisect", "--good", hashes[0]!, "--bad", "main", "--test", "alpha"], dir);
        expect(text.code).toBe(1);
        expect(text.stdout).toContain(`inconclusive`);
        expect(text.stdout).toContain(`  ${hashes[18]!.slice(0, 12)} build: rework step 18\n  ${hashes[19]!.slice(0, 12)} alpha: change the default\n`);
      }),
    240_000,
  );

  it(
    "refuses bad input with exit 2 and a message, changing nothing",
    () =>
      withTempDir(async (dir) => {
        const hashes = await repository(dir, 24, 19, [14, 22]);
        const before = await checkout(dir);
        const bisect = (...args: string[]) => kto(["bisect", ...args], dir);

        const backwards = await bisect("--good", "main", "--bad", hashes[0]!);
        expect(backwards).toMatchObject({ code: 2, stdout: "" });
        expect(backwards.stderr).toContain(
          `kto: --good main (${hashes[23]!.slice(0, 12)}) is not an ancestor of --bad ${hashes[0]!.slice(0, 12)}: a good commit must come before the bad one`,
        );

        expect((await bisect("--good", "nope", "--bad", "main")).stderr).toContain('kto: --good: "nope" names no commit of this repository');
        expect((await bisect("--good", hashes[0]!, "--bad", "main", "--runs", "0")).stderr).toContain("kto: --runs: expected a whole number from 1 to 10");
        expect((await bisect("--good", hashes[0]!, "--bad", "main", "--test", "!alpha")).stderr).toContain("kto: --test: invalid glob");

        const goodFails = await bisect("--good", hashes[20]!, "--bad", "main", "--test", "alpha");
        expect(goodFails.code).toBe(2);
        expect(goodFails.stderr).toContain(`kto: --good ${hashes[20]!.slice(0, 12)} fails (0 of 1 runs passed, 1 failed): a good commit must pass`);

        const badPasses = await bisect("--good", hashes[0]!, "--bad", hashes[10]!, "--test", "alpha");
        expect(badPasses.code).toBe(2);
        expect(badPasses.stderr).toContain(`kto: --bad ${hashes[10]!.slice(0, 12)} passes (1 of 1 runs passed, 0 failed): a bad commit must fail alpha`);

        const noTest = await bisect("--good", hashes[0]!, "--bad", "main", "--test", "omega*");
        expect(noTest.code).toBe(2);
        expect(noTest.stderr).toContain(`kto: --test "omega*" matches no test at --bad main (${hashes[23]!.slice(0, 12)})`);
        expect(noTest.stderr).toContain("unit › alpha");

        const unbuilt = await bisect("--good", hashes[0]!, "--bad", hashes[22]!, "--test", "alpha");
        expect(unbuilt.code).toBe(2);
        expect(unbuilt.stderr).toContain("cannot be tested: it does not build: build kernel failed");

        const noResume = await bisect("--good", hashes[0]!, "--bad", "main", "--resume");
        expect(noResume.code).toBe(2);
        expect(noResume.stderr).toContain("kto: --resume: no interrupted bisection to resume in this repository");
        expect(await checkout(dir)).toEqual(before);
      }),
    240_000,
  );

  it(
    "bisects 10,000 commits in a bounded number of steps",
    () =>
      withTempDir(async (dir) => {
        const [base] = await repository(dir, 1, 1, []);
        // fast-import writes the long history in a moment; alpha breaks at commit 7,321 of it.
        const broken = tests(true);
        const lines: string[] = [];
        for (let i = 1; i <= 10_000; i++) {
          const message = i === 7321 ? "alpha: break it" : `change ${i}`;
          lines.push(
            "commit refs/heads/long",
            `committer Ada Author <ada@example.org> ${1_700_000_000 + i} +0000`,
            `data ${Buffer.byteLength(message)}`,
            message,
          );
          if (i === 1) lines.push(`from ${base}`);
          lines.push("M 100644 inline counter.txt", `data ${String(i).length + 1}`, `${i}`);
          if (i === 7321) lines.push("M 100644 inline tests.sh", `data ${Buffer.byteLength(broken)}`, broken);
          lines.push("");
        }
        await new Promise<void>((resolve, reject) => {
          const child = spawn("git", ["fast-import", "--quiet"], { cwd: dir, stdio: ["pipe", "ignore", "inherit"] });
          child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}`))));
          child.stdin.end(lines.join("\n"));
        });
        const culprit = (await git(dir, "rev-list", "--grep", "^alpha: break it$", "long")).trim();
        const result = await kto(["bisect", "--good", base!, "--bad", "long", "--test", "alpha", "--json"], dir);
        expect(result.code).toBe(0);
        const data = JSON.parse(result.stdout) as Outcome;
        expect(data.first_bad?.hash).toBe(culprit);
        expect(data.steps.length).toBeLessThanOrEqual(2 + Math.ceil(Math.log2(10_000)));
        expect(result.stderr).toContain("10000 commits after");
      }),
    240_000,
  );

  it(
    "an interrupt mid-run leaves no worktree behind, and --resume continues from what was run",
    () =>
      withTempDir(async (dir) => {
        const hashes = await repository(dir, 30, 19, [14, 22]);
        const before = await checkout(dir);
        const args = ["bisect", "--good", hashes[0]!, "--bad", "main", "--test", "alpha", "--json"];
        const child = spawn(process.execPath, [KTO, ...args], { cwd: dir, env: ENV, stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
        await new Promise<void>((resolve) => {
          child.stderr.on("data", (chunk: Buffer) => {
            stderr += chunk.toString();
            // The third commit's worktree is checked out and its run under way.
            if ((stderr.match(/kto bisect: testing /g) ?? []).length === 3) setTimeout(resolve, 150);
          });
        });
        child.kill("SIGINT");
        expect(await exited).toBe(130);
        expect(stderr).toContain("kto bisect --resume with the same arguments continues");
        expect(await checkout(dir)).toEqual(before);
        const state = JSON.parse(await readFile(join(dir, ".git", "kto-bisect", "state.json"), "utf8")) as { steps: { commit: string }[] };
        expect(state.steps.slice(0, 2).map((s) => s.commit)).toEqual([hashes[29], hashes[0]]);

        const other = await kto(["bisect", "--good", hashes[0]!, "--bad", "main", "--test", "gamma", "--resume"], dir);
        expect(other.code).toBe(2);
        expect(other.stderr).toContain('kto: --resume: the interrupted bisection had other arguments (test: "alpha")');

        const resumed = await kto([...args, "--resume"], dir);
        expect(resumed.code).toBe(0);
        expect(resumed.stderr).toMatch(/kto bisect: resuming: [23] commits tested already/);
        // The ends were not run again.
        expect(resumed.stderr).not.toContain(`testing ${hashes[29]!.slice(0, 12)}`);
        expect((JSON.parse(resumed.stdout) as Outcome).first_bad?.hash).toBe(hashes[19]);
        expect(await checkout(dir)).toEqual(before);
      }),
    240_000,
  );
});
