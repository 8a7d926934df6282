import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "@jest/globals";
import { withTempDir } from "../helpers/job.js";

/** `kto compare` on the results folders of real `kto run`s (Docker), as a developer uses it before sending a series. */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KTO = join(ROOT, "bin", "kto.js");
const ENV = { ...process.env, CI: "1", KTO_DATA_DIR: mkdtempSync(join(tmpdir(), "kto-compare-data-")) };

async function kto(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [KTO, ...args], { cwd, env: ENV, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * A suite printing `lines` as its results, and a kselftest-like suite whose runner relays
 * each program's own TAP behind `# `: program posix_timers has `cases`, and the
 * nanosleep program's relayed lines come without their version and plan lines.
 */
function config(lines: string[], timerCases: Record<string, boolean>): string {
  const echo = (line: string) => `      echo '${line}'`;
  const names = Object.keys(timerCases);
  const programOk = Object.values(timerCases).every(Boolean);
  const timers = [
    "TAP version 13",
    "1..2",
    "# selftests: timers: posix_timers",
    "# TAP version 13",
    `# 1..${names.length}`,
    ...names.map((name, i) => `# ${timerCases[name] ? "ok" : "not ok"} ${i + 1} ${name}`),
    `${programOk ? "ok" : "not ok"} 1 selftests: timers: posix_timers`,
    "# selftests: timers: nanosleep",
    "# ok 1 nsleep_realtime",
    "ok 2 selftests: timers: nanosleep",
  ];
  return [
    "version: 1",
    "defaults: { timeout: 2m }",
    "suites:",
    "  - name: unit",
    "    runner: docker",
    "    image: kto/busybox:1",
    "    results: tap",
    "    command: |",
    ...["TAP version 13", `1..${lines.length}`, ...lines].map(echo),
    "  - name: timers",
    "    runner: docker",
    "    image: kto/busybox:1",
    "    results: tap",
    "    command: |",
    ...timers.map(echo),
    "triggers: { pull_request: all }",
    "",
  ].join("\n");
}

async function run(dir: string, name: string, text: string): Promise<string> {
  await writeFile(join(dir, `${name}.yml`), text);
  const out = join(dir, name);
  const { code, stderr } = await kto(["run", `${name}.yml`, "--jobs", "2", "--out", out], dir);
  expect([0, 1]).toContain(code);
  expect(stderr).not.toContain("Error:");
  return out;
}

interface Classified {
  id: string;
  class: string;
  base: string | null;
  head: string;
}

describe("kto compare on two runs' results", () => {
  it("a change that breaks one test among several already failing shows exactly one regression; fixing it leaves the old failures and exits 0", async () => {
    await withTempDir(async (dir) => {
      const base = await run(dir, "base", config(["ok 1 a", "not ok 2 b", "not ok 3 c", "ok 4 d"], { check_itimer: true, check_timer_create: true }));
      const head = await run(
        dir,
        "head",
        config(["not ok 1 a", "not ok 2 b", "ok 3 c", "ok 4 d", "ok 5 e"], { check_itimer: true, check_timer_create: false }),
      );
      const fixed = await run(dir, "fixed", config(["ok 1 a", "not ok 2 b", "not ok 3 c", "ok 4 d"], { check_itimer: true, check_timer_create: true }));

      const broken = await kto(["compare", base, head, "--json"], dir);
      expect(broken.code).toBe(1);
      const data = JSON.parse(broken.stdout) as { tests: Classified[]; counts: Record<string, number>; incomplete: string[]; exit: number };
      const byClass = (cls: string) => data.tests.filter((t) => t.class === cls).map((t) => t.id);
      expect(byClass("new")).toEqual(["timers › selftests: timers: posix_timers › check_timer_create", "unit › a"]);
      expect(byClass("still_failing")).toEqual(["unit › b"]);
      expect(byClass("fixed")).toEqual(["unit › c"]);
      expect(byClass("new_test")).toEqual(["unit › e"]);
      // The program's cases sit under the program, never under an unnamed level, even where its version and plan lines are missing.
      expect(data.tests.every((t) => !t.id.includes("›  ›"))).toBe(true);
      expect(data).toMatchObject({ incomplete: [], exit: 1 });

      const text = await kto(["compare", base, head], dir);
      expect(text.stdout).toContain("2 regressions, 1 still failing, 0 flaky, 0 known, 1 new test (0 failing), 1 fixed; 7 unchanged, 0 no longer run");
      expect(text.stdout).toMatch(
        /regressions: passed on the baseline\): 2\n {2}timers › selftests: timers: posix_timers › check_timer_create: passed → failed\n {2}unit › a: passed → failed/,
      );

      // The fix: the regressions are gone, the old failures stay, and that is not red.
      const after = await kto(["compare", base, fixed, "--json"], dir);
      expect(after.code).toBe(0);
      const again = JSON.parse(after.stdout) as { tests: Classified[] };
      expect(again.tests.map((t) => `${t.class}:${t.id}`)).toEqual(["still_failing:unit › b", "still_failing:unit › c"]);
    });
  }, 240_000);

  it("a known issue takes a failure out of the regressions; an invalid glob is an error naming file, line and field", async () => {
    await withTempDir(async (dir) => {
      const base = await run(dir, "base", config(["ok 1 a", "ok 2 b"], { check_itimer: true }));
      const head = await run(dir, "head", config(["not ok 1 a", "ok 2 b"], { check_itimer: true }));
      await writeFile(join(dir, "known.yml"), "version: 1\nknown:\n  - tests: 'a'\n    suite: unit\n    link: https://lore.kernel.org/r/1\n");
      const known = await kto(["compare", base, head, "--known", "known.yml", "--json"], dir);
      expect(known.code).toBe(0);
      expect((JSON.parse(known.stdout) as { tests: Classified[] }).tests).toEqual([
        expect.objectContaining({ id: "unit › a", class: "known", known: { entry: 0, link: "https://lore.kernel.org/r/1", expect: "fail" } }),
      ]);
      // Its test passed in the base: given nine more base runs where it passed, the entry is pointed out for removal; eight are not enough.
      const history = (n: number) => Array.from({ length: n }, () => ["--history", base]).flat();
      const ten = await kto(["compare", base, head, "--known", "known.yml", ...history(9)], dir);
      expect(ten.stdout).toContain(
        "known issues whose tests passed in each of the last 10 or more base runs given (remove them):\n  entry 1 (https://lore.kernel.org/r/1): 10 runs, such as unit › a",
      );
      const nine = await kto(["compare", base, head, "--known", "known.yml", "--json", ...history(8)], dir);
      expect((JSON.parse(nine.stdout) as { knownPassing: unknown[] }).knownPassing).toEqual([]);
      // Scoped to another suite, the entry does not cover it.
      await writeFile(join(dir, "other.yml"), "version: 1\nknown:\n  - tests: 'a'\n    suite: timers\n");
      expect((await kto(["compare", base, head, "--known", "other.yml"], dir)).code).toBe(1);

      await writeFile(join(dir, "bad.yml"), "version: 1\nknown:\n  - tests: ok\n  - tests: '!a'\n");
      const bad = await kto(["compare", base, head, "--known", "bad.yml"], dir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^bad\.yml:4:\d+: known\[1\]\.tests: invalid glob: a glob cannot be negated/m);
      // A known-issues file in the working directory (a pull request's checkout) is not read unless named.
      await mkdir(join(dir, ".github"));
      await writeFile(join(dir, ".github", "kto-known.yml"), "version: 1\nknown:\n  - tests: '*'\n");
      expect((await kto(["compare", base, head], dir)).code).toBe(1);
    });
  }, 240_000);

  it("a job missing from the head, or one the host failed, makes the answer incomplete: exit 2", async () => {
    await withTempDir(async (dir) => {
      const base = await run(dir, "base", config(["ok 1 a"], { check_itimer: true }));
      const report = JSON.parse(await readFile(join(base, "results.json"), "utf8")) as { jobs: { name: string; outcome: string; reason: string }[] };
      const missing = { ...report, jobs: report.jobs.filter((j) => j.name !== "timers") };
      await writeFile(join(dir, "missing.json"), JSON.stringify(missing));
      const gone = await kto(["compare", base, "missing.json"], dir);
      expect(gone.code).toBe(2);
      expect(gone.stdout).toContain("timers ran in");
      const faulted = {
        ...report,
        jobs: report.jobs.map((j) => (j.name === "timers" ? { ...j, status: "errored", outcome: "infrastructure", reason: "dockerd stopped" } : j)),
      };
      await writeFile(join(dir, "faulted.json"), JSON.stringify(faulted));
      const fault = await kto(["compare", base, "faulted.json", "--json"], dir);
      expect(fault.code).toBe(2);
      expect((JSON.parse(fault.stdout) as { incomplete: string[] }).incomplete).toEqual([
        expect.stringContaining("timers in faulted.json ended infrastructure: dockerd stopped"),
      ]);
      // Not a results file at all: a usage error naming it.
      await writeFile(join(dir, "junk.json"), '{"schema":"other"}');
      const junk = await kto(["compare", base, "junk.json"], dir);
      expect(junk.code).toBe(2);
      expect(junk.stderr).toContain("junk.json: schema:");
    });
  }, 240_000);

  it("kto run judges itself against a baseline or known issues when asked: red on a regression, green on old or known failures", async () => {
    await withTempDir(async (dir) => {
      const base = await run(dir, "base", config(["ok 1 a", "not ok 2 b"], { check_itimer: true }));
      await writeFile(join(dir, "same.yml"), config(["ok 1 a", "not ok 2 b"], { check_itimer: true }));
      await writeFile(join(dir, "broken.yml"), config(["not ok 1 a", "not ok 2 b"], { check_itimer: true }));
      // The same failure as the baseline's: not red.
      const same = await kto(["run", "same.yml", "--out", "same", "--baseline", base], dir);
      expect(same.code).toBe(0);
      expect(same.stdout).toContain("0 regressions, 1 still failing");
      const broken = await kto(["run", "broken.yml", "--out", "broken", "--baseline", base], dir);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain("unit › a: passed → failed");

      await writeFile(join(dir, "known.yml"), "version: 1\nknown:\n  - { tests: b, suite: unit }\n");
      const known = await kto(["run", "same.yml", "--out", "known", "--known", "known.yml"], dir);
      expect(known.code).toBe(0);
      expect(known.stdout).toContain("kto: 1 of 1 failures are known issues (known.yml)");
      const notKnown = await kto(["run", "broken.yml", "--out", "not-known", "--known", "known.yml"], dir);
      expect(notKnown.code).toBe(1);
      expect(notKnown.stdout).toContain("kto: not known: unit › a failed");

      // A bad known-issues file or baseline is said before anything runs, and nothing is written.
      await writeFile(join(dir, "bad.yml"), "version: 1\nknown:\n  - tests: '!b'\n");
      const bad = await kto(["run", "same.yml", "--out", "bad-run", "--known", "bad.yml"], dir);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^bad\.yml:3:\d+: known\[0\]\.tests: invalid glob/m);
      const noBase = await kto(["run", "same.yml", "--out", "no-base", "--baseline", "nowhere"], dir);
      expect(noBase.code).toBe(2);
      expect(noBase.stderr).toContain("--baseline: nowhere: cannot read");
      await expect(readFile(join(dir, "bad-run", "results.json"))).rejects.toThrow();
      await expect(readFile(join(dir, "no-base", "results.json"))).rejects.toThrow();
    });
  }, 240_000);
});
