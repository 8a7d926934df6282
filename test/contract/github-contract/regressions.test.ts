import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "@jest/globals";
import { jobReport } from "../../helpers/job-report.js";
import { fileURLToPath } from "node:url";
import { PROJECT_ROOT_URL } from "../../helpers/project-root.js";
import { until } from "../../helpers/until.js";
import { checkRuns, closeSystemAfterEach, dispatchedJob, push, pushToMaster, REPO, report, start, suite, type CheckRun, type System } from "./system.js";

/**
 * A pull request judged against its base branch's results, end to end through the App and the
 * double: the base's run recorded by a push to the default branch, the pull request's compared
 * at its merge base, red only for what it broke.
 */

closeSystemAfterEach();

const sha = (n: number) => n.toString(16).repeat(20);
const BASE = sha(0xb1);
const PARENT = sha(0xb0);
const BROKEN = sha(0xc1);
const FIXED = sha(0xc2);
const CONFIG = `version: 1\nsuites:\n${suite("unit")}`;

type Status = "passed" | "failed";

function commitGraph(s: System, extra = "") {
  const add = (commit: string, parents: string[], message: string) =>
    s.github.state.commits.set(`${REPO}@${commit}`, { parents, message, author: "dev", date: "2026-12-01T00:00:00Z" });
  add(PARENT, [], "start");
  add(BASE, [PARENT], "base");
  add(BROKEN, [BASE], "breaks math.add");
  add(FIXED, [BROKEN], "fixes math.add");
  s.github.state.refs.set(`${REPO}@master`, BASE);
  for (const commit of [PARENT, BASE, BROKEN, FIXED]) s.github.state.files.set(`${REPO}@${commit}:.github/kto.yml`, CONFIG);
  if (extra) s.github.state.files.set(`${REPO}@master:.github/kto.yml`, `${CONFIG}${extra}`);
}

/** A finished report of "unit" with these cases, as the action sends it. */
function finished(cases: Record<string, Status>, name = "unit"): Record<string, unknown> {
  const list = Object.entries(cases).map(([name, status]) => ({ path: ["math"], name, status }));
  const lines: Record<string, number> = { add: 50, sub: 20, mul: 30, div: 40 };
  // In the results' order, as the action lists them: the regression is not first.
  const failures = list
    .filter((c) => c.status === "failed")
    .map((c) => ({ name: c.name, path: c.path, status: "failed", reason: "expected 4, got 3", location: { file: "lib/math.c", line: lines[c.name] ?? 1 } }));
  const failed = failures.length;
  return {
    kind: "finished",
    status: failed ? "failed" : "succeeded",
    outcome: failed ? "failed" : "passed",
    reason: failed ? `${failed} tests failed` : "all passed",
    result: jobReport(name, failed ? "failed" : "succeeded", {
      failures,
      tests: { total: list.length, passed: list.length - failed, failed, errored: 0, skipped: 0 },
    }),
    cases: list,
  };
}

async function runJob(s: System, index: number, cases: Record<string, Status>, sha: string, body = finished(cases)): Promise<CheckRun> {
  const job = await until(async () => s.github.state.dispatches[index] && dispatchedJob(s, index), `dispatch ${index}`);
  await report(s, job.id, { kind: "started" });
  await report(s, job.id, body);
  return until(async () => checkRuns(s, sha).find((c) => c.name === "kto / unit" && c.status === "completed"), `the check run at ${sha.slice(-3)}`);
}

const BASE_RESULTS: Record<string, Status> = { sub: "failed", mul: "failed", add: "passed", div: "passed" };

describe("regressions, not failures", () => {
  it("shows exactly one regression among failures already there, red under fail_on: regressions, and green once fixed", async () => {
    const s = await start();
    commitGraph(s);
    await pushToMaster(s, BASE);
    const base = await runJob(s, 0, BASE_RESULTS, BASE);
    // No older results: its two failures are new to history, so the base's own check run is red.
    expect(base.conclusion).toBe("failure");

    await push(s, BROKEN, CONFIG);
    const broken = await runJob(s, 1, { sub: "failed", mul: "failed", add: "failed", div: "passed" }, BROKEN);
    expect(broken.conclusion).toBe("failure");
    expect(broken.output.title).toMatch(/^1 regression, 2 still failing/);
    expect(broken.output.summary).toContain(`at [${BASE.slice(0, 7)}]`);
    expect(broken.output.summary).toContain("the merge base");
    const regressions = broken.output.summary.split("### New failures: regressions")[1]!.split("<details>")[0]!;
    expect(regressions).toContain("unit › math › add");
    expect(regressions).not.toContain("sub");
    // The regression's annotation comes first.
    expect(broken.output.annotations?.[0]).toMatchObject({ start_line: 50 });

    await push(s, FIXED, CONFIG, "synchronize");
    const fixed = await runJob(s, 2, { add: "passed", sub: "failed", mul: "failed", div: "passed" }, FIXED);
    expect(fixed.conclusion).toBe("success");
    expect(fixed.output.title).toMatch(/^no regressions, 2 still failing/);
    expect(s.github.rejected).toEqual([]);

    // kto compare, given the same results as files, finds what the check run found.
    const dir = await mkdtemp(join(tmpdir(), "kto-compare-"));
    try {
      const file = async (name: string, cases: Record<string, Status>) => {
        const entry = { name: "unit", suite: "unit", matrix: {}, status: "failed", outcome: "failed", reason: "", arch: "x86_64", labels: [] };
        const path = join(dir, `${name}.json`);
        await writeFile(
          path,
          JSON.stringify({
            schema: "kto.results/v1",
            jobs: [{ ...entry, cases: Object.entries(cases).map(([n, st]) => ({ path: ["math"], name: n, status: st })) }],
          }),
        );
        return path;
      };
      const before = await file("base", BASE_RESULTS);
      const after = await file("head", { sub: "failed", mul: "failed", add: "failed", div: "passed" });
      const out = await promisify(execFile)(process.execPath, [
        fileURLToPath(new URL("bin/kto.js", PROJECT_ROOT_URL)),
        "compare",
        "--json",
        before,
        after,
      ]).catch((error: { stdout: string; code: number }) => error);
      const compared = JSON.parse(out.stdout) as { counts: Record<string, number>; tests: { id: string; class: string }[] };
      expect(compared.counts.new).toBe(1);
      expect(compared.counts.still_failing).toBe(2);
      expect(compared.tests.find((t) => t.class === "new")?.id).toBe("unit › math › add");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs a pull request's baseline itself when its merge base has none, once for the pull requests on it, and judges them when it ends", async () => {
    const s = await start();
    commitGraph(s);
    await push(s, BROKEN, CONFIG);
    const job = await until(async () => s.github.state.dispatches[0] && dispatchedJob(s, 0), "the pull request's dispatch");
    await report(s, job.id, { kind: "started" });
    await report(s, job.id, finished({ sub: "failed", mul: "failed", add: "failed", div: "passed" }));
    // Finished, and waiting: a conclusion now would be one GitHub never lets kto change.
    const waiting = await until(
      async () => checkRuns(s, BROKEN).find((c) => c.name === "kto / unit" && /waiting for its baseline/.test(c.output.title)),
      "the waiting check run",
    );
    expect(waiting.status).toBe("in_progress");
    const baseline = await until(async () => s.github.state.dispatches[1] && dispatchedJob(s, 1), "the baseline's dispatch");
    expect(s.github.state.dispatches[1]!.inputs.sha).toBe(BASE);
    // The next push of the pull request sits on the same merge base: it waits for the same baseline.
    await push(s, FIXED, CONFIG, "synchronize");
    const next = await until(async () => s.github.state.dispatches[2] && dispatchedJob(s, 2), "the second push's dispatch");
    await report(s, next.id, { kind: "started" });
    await report(s, next.id, finished({ sub: "failed", mul: "failed", add: "passed", div: "passed" }));
    await until(
      async () => checkRuns(s, FIXED).find((c) => c.name === "kto / unit" && /waiting for its baseline/.test(c.output.title)),
      "the second waiting check run",
    );
    await report(s, baseline.id, { kind: "started" });
    await report(s, baseline.id, finished(BASE_RESULTS));
    const broken = await until(async () => checkRuns(s, BROKEN).find((c) => c.name === "kto / unit" && c.status === "completed"), "the first push judged");
    expect(broken.conclusion).toBe("failure");
    expect(broken.output.title).toMatch(/^1 regression, 2 still failing/);
    const fixed = await until(async () => checkRuns(s, FIXED).find((c) => c.name === "kto / unit" && c.status === "completed"), "the second push judged");
    expect(fixed.conclusion).toBe("success");
    expect(s.github.state.dispatches.map((d) => d.inputs.sha)).toEqual([BROKEN, BASE, FIXED]);
    expect(s.github.rejected).toEqual([]);
  });

  it("runs no baseline of a suite the merge base does not have: no config failure there, and the pull request's check run judged at once", async () => {
    const s = await start();
    commitGraph(s);
    // The pull request adds suite "extra"; its merge base's config has only "unit".
    await push(s, BROKEN, `version: 1\nsuites:\n${suite("extra")}`);
    const job = await until(async () => s.github.state.dispatches[0] && dispatchedJob(s, 0), "the pull request's dispatch");
    await report(s, job.id, { kind: "started" });
    await report(s, job.id, finished({ add: "failed", sub: "passed" }, "extra"));
    const judged = await until(async () => checkRuns(s, BROKEN).find((c) => c.name === "kto / extra" && c.status === "completed"), "the check run judged");
    expect(judged.output.summary).toContain("No results of this job from master's own runs");
    expect(judged.conclusion).toBe("failure");
    expect(checkRuns(s, BASE)).toEqual([]);
    expect(s.github.state.dispatches.map((d) => d.inputs.sha)).toEqual([BROKEN]);
    expect(s.github.rejected).toEqual([]);
  });

  it("confirms a regression by running the failing job again (confirm: 1): a pass then is flaky and said so, two failures are new", async () => {
    const s = await start();
    commitGraph(s, "results:\n  confirm: 1\n");
    await pushToMaster(s, BASE);
    await runJob(s, 0, BASE_RESULTS, BASE);
    const broke = { sub: "failed", mul: "failed", add: "failed", div: "passed" } as const;
    // The first push fails add, then passes it when run again: flaky, green, and said so.
    await push(s, BROKEN, CONFIG);
    const first = await until(async () => s.github.state.dispatches[1] && dispatchedJob(s, 1), "the first run");
    await report(s, first.id, { kind: "started" });
    await report(s, first.id, finished(broke));
    const flaky = await runJob(s, 2, { sub: "failed", mul: "failed", add: "passed", div: "passed" }, BROKEN);
    expect(dispatchedJob(s, 2).id).toBe(first.id);
    expect(flaky.conclusion).toBe("success");
    expect(flaky.output.summary).toContain("Flaky on this commit: 1 test failed on an earlier run and passed when run again: unit › math › add");
    // The next push fails it twice: confirmed, and new.
    await push(s, FIXED, CONFIG, "synchronize");
    const next = await until(async () => s.github.state.dispatches[3] && dispatchedJob(s, 3), "the next push's run");
    await report(s, next.id, { kind: "started" });
    await report(s, next.id, finished(broke));
    const confirmed = await runJob(s, 4, broke, FIXED);
    expect(confirmed.conclusion).toBe("failure");
    expect(confirmed.output.title).toMatch(/^1 regression/);
    expect(confirmed.output.summary).toContain("Confirmed: the job failed in each of its 2 runs");
    expect(s.github.rejected).toEqual([]);
  });

  it("judges each job of a suite's one check run the same way: red for its regression, green once only old failures remain", async () => {
    const s = await start({ server: "github.com" });
    const config = `version: 1\nsuites:\n${suite("unit", "    check_run: suite\n")}`;
    commitGraph(s);
    for (const commit of [BASE, BROKEN, FIXED]) s.github.state.files.set(`${REPO}@${commit}:.github/kto.yml`, config);
    await pushToMaster(s, BASE);
    await runJob(s, 0, BASE_RESULTS, BASE);
    await push(s, BROKEN, config);
    const broken = await runJob(s, 1, { sub: "failed", mul: "failed", add: "failed", div: "passed" }, BROKEN);
    expect(broken.conclusion).toBe("failure");
    expect(broken.output.title).toMatch(/^1 regression · 1 job: 1 failed/);
    expect(broken.output.summary).toContain("`unit › math › add`");
    await push(s, FIXED, config, "synchronize");
    const fixed = await runJob(s, 2, { sub: "failed", mul: "failed", add: "passed", div: "passed" }, FIXED);
    expect(fixed.conclusion).toBe("success");
    expect(fixed.output.title).toMatch(/^no regressions · 1 job: 1 failed/);
    expect(s.github.rejected).toEqual([]);
  });

  it("keeps red a job that failed as a whole, though its baseline failed as a whole too, and takes a report whatever its cases' durations", async () => {
    const s = await start();
    commitGraph(s);
    await pushToMaster(s, BASE);
    // The base's job failed with no failing test to say why (a non-zero exit).
    const exited = finished({ add: "passed" });
    await runJob(s, 0, {}, BASE, { ...exited, status: "failed", outcome: "failed", reason: "exit 1" });
    await push(s, BROKEN, CONFIG);
    // The pull request's kernel panics: never a "still failing" to wave through. A duration from a clock that stepped back is dropped, not a reason to refuse the report.
    const panicked = finished({ add: "passed" });
    const cases = [
      { path: ["math"], name: "add", status: "passed", durationMs: -1 },
      { path: Array.from({ length: 70 }, () => "deep"), name: "x", status: "passed", durationMs: 1e12 },
    ];
    const run = await runJob(s, 1, {}, BROKEN, { ...panicked, status: "failed", outcome: "kernel_panic", reason: "Kernel panic", cases });
    expect(run.conclusion).toBe("failure");
    expect(run.output.summary).toContain("failed as a whole");
    expect(s.github.rejected).toEqual([]);
  });

  it("is red for any failure under the base's fail_on: failures, and takes known issues from the base branch only", async () => {
    const s = await start({ server: "github.com" });
    commitGraph(s, "results:\n  fail_on: failures\n");
    s.github.state.files.set(`${REPO}@master:.github/kto-known.yml`, `version: 1\nknown:\n  - tests: ["math › mul"]\n    link: https://bugs.example/1\n`);
    // The pull request lists every failure as known: that file is the head's, and ignored.
    s.github.state.files.set(`${REPO}@${FIXED}:.github/kto-known.yml`, `version: 1\nknown:\n  - tests: ["*"]\n`);
    await pushToMaster(s, BASE);
    await runJob(s, 0, BASE_RESULTS, BASE);
    await push(s, FIXED, CONFIG);
    const run = await runJob(s, 1, { add: "passed", sub: "failed", mul: "failed", div: "passed" }, FIXED);
    expect(run.conclusion).toBe("failure");
    expect(run.output.title).toMatch(/^no regressions, 1 still failing, 1 known/);
    expect(run.output.summary).toContain("fail_on: failures");
    expect(run.output.summary).toContain("https://bugs.example/1");
    expect(s.github.rejected).toEqual([]);
  });

  it("says how many commits older its baseline is when the merge base has no results, and an invalid known-issues file is named, not trusted", async () => {
    const s = await start();
    commitGraph(s);
    s.github.state.files.set(`${REPO}@master:.github/kto-known.yml`, `version: 1\nknown:\n  - tests: ["!math"]\n`);
    await pushToMaster(s, PARENT);
    await runJob(s, 0, BASE_RESULTS, PARENT);
    // The pull request's merge base (BASE) has no results: the one before it is the baseline.
    await push(s, BROKEN, CONFIG);
    const run = await runJob(s, 1, { sub: "failed", mul: "failed", add: "failed", div: "passed" }, BROKEN);
    expect(run.output.summary).toContain("1 commit older than the merge base");
    expect(run.output.summary).toMatch(/kto-known\.yml on master is invalid: .*:3:\d+: known\\\[0\\\]\.tests\\\[0\\\]: invalid glob/s);
    expect(run.conclusion).toBe("failure");
    expect(run.output.title).toMatch(/^1 regression/);
    // The dashboard's pull request page compares with the same run, and says how far back it is.
    const page = (await (await fetch(`${s.app.url}/kto/api/pulls?repo=${encodeURIComponent(REPO)}&number=1`)).json()) as {
      jobs: { baseline: { sha: string; commitsOlder: number }; baselineChosen: unknown; regressions: number }[];
    };
    expect(page.jobs.map((j) => [j.baseline.sha, j.baseline.commitsOlder, j.baselineChosen, j.regressions])).toEqual([
      [PARENT, 1, { by: "check run", mergeBase: BASE }, 1],
    ]);
    expect(s.github.rejected).toEqual([]);
  });

  it("points out a known issue whose test passed in each of the base branch's last ten runs, on the push that makes it ten", async () => {
    const s = await start({ server: "github.com" });
    const line = Array.from({ length: 12 }, (_, i) => sha(0xd00 + i));
    line.forEach((commit, i) => {
      s.github.state.commits.set(`${REPO}@${commit}`, {
        parents: i ? [line[i - 1]!] : [],
        message: `commit ${i}`,
        author: "dev",
        date: "2026-12-01T00:00:00Z",
      });
      s.github.state.files.set(`${REPO}@${commit}:.github/kto.yml`, CONFIG);
    });
    s.github.state.files.set(
      `${REPO}@master:.github/kto-known.yml`,
      `version: 1\nknown:\n  - tests: ["math › mul"]\n    link: https://bugs.example/7\n  - tests: ["math › div"]\n    intermittent: true\n`,
    );
    const runs: CheckRun[] = [];
    for (const [i, commit] of line.entries()) {
      s.github.state.refs.set(`${REPO}@master`, commit);
      await pushToMaster(s, commit);
      // mul fails on the first commit only; sub fails throughout, and no known issue covers it.
      runs.push(await runJob(s, i, { sub: "failed", mul: i === 1 ? "failed" : "passed", add: "passed", div: "passed" }, commit));
    }
    const readyToGo = (run: CheckRun) => run.output.summary.includes("Known issues that may be ready to remove");
    // Commit 1's mul failed; commits 2 to 10 make nine passes, the eleventh push the tenth.
    expect(runs.map(readyToGo)).toEqual([...Array(11).fill(false), true]);
    const section = runs[11]!.output.summary.split("### Known issues that may be ready to remove")[1]!;
    expect(section).toContain(
      "[Known issue #1](https://bugs.example/7): its tests passed in this job at each of the base branch's last 10 commits that ran them",
    );
    expect(section).toContain("`unit › math › mul`");
    expect(section).not.toContain("#2");
    expect(s.github.rejected).toEqual([]);
  }, 120_000);
});
