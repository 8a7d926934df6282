import { describe, expect, it } from "@jest/globals";
import {
  checkRuns,
  closeSystemAfterEach,
  comment,
  deliver,
  dispatchedJob,
  example,
  failedAtLines,
  HEAD,
  push,
  REPO,
  report,
  runOf,
  start,
  suite,
  TWO,
  unitRunning,
} from "./system.js";
import { until, untilSettled } from "../../helpers/until.js";

/**
 * kto against the parts of GitHub's contract no schema states: check runs that cannot be
 * reopened and add up their annotations, whose answers may be lost or put off. The double
 * refuses what GitHub would (`rejected`); each test fails on any.
 */

closeSystemAfterEach();

describe("kto's check runs as GitHub keeps them", () => {
  it("shows a job kto could not run (errored) as a failure, which branch protection does not take as passing", async () => {
    const s = await start();
    await push(s, HEAD, `version: 1\nsuites:\n${suite("unit")}`);
    const job = await until(async () => s.github.state.dispatches[0] && dispatchedJob(s, 0), "the dispatch");
    await report(s, job.id, { kind: "started" });
    await report(s, job.id, { kind: "finished", status: "errored", reason: "the runner's disk filled up" });
    const run = await until(async () => (runOf(s, "unit")?.status === "completed" ? runOf(s, "unit") : null), "the check run completed");
    expect(run.conclusion).toBe("failure");
    expect(s.github.rejected).toEqual([]);
  });

  it("gives an approved job a new check run: the one that asked for approval is completed and stays so", async () => {
    const s = await start();
    s.github.state.permissions.set(REPO, new Map([["maintainer", "write"]]));
    s.github.state.files.set(`${REPO}@${HEAD}:.github/kto.yml`, TWO);
    s.github.state.pulls.set(`${REPO}#1`, {
      number: 1,
      head: { sha: HEAD, repo: { full_name: "stranger/Hello-World" } },
      base: { ref: "master" },
      author_association: "NONE",
    });
    const payload = example("pull_request", "opened") as {
      number: number;
      pull_request: { number: number; author_association: string; head: { sha: string; repo: { full_name: string } } };
    };
    payload.number = payload.pull_request.number = 1;
    payload.pull_request.author_association = "NONE";
    payload.pull_request.head.repo.full_name = "stranger/Hello-World";
    expect(await deliver(s, "pull_request", payload)).toBe(200);
    const held = await until(async () => checkRuns(s).find((c) => c.conclusion === "action_required"), "a check run asking for approval");
    expect(await deliver(s, "issue_comment", comment("/kto ok-to-test"))).toBe(200);
    await until(async () => s.github.state.dispatches.length === 2, "the approved jobs dispatched");
    await until(async () => runOf(s, "unit") && runOf(s, "board"), "a check run of each job");
    expect([runOf(s, "unit")!.id, runOf(s, "board")!.id]).not.toContain(held.id);
    expect(s.github.state.checkRuns.get(held.id)).toMatchObject({ status: "completed" });
    expect(s.github.rejected).toEqual([]);
  });

  it("sends the first 50 of a job's failures as annotations with its final update, and counts the rest in the summary", async () => {
    const s = await start();
    await push(s, HEAD, `version: 1\nsuites:\n${suite("unit")}`);
    const job = await until(async () => s.github.state.dispatches[0] && dispatchedJob(s, 0), "the dispatch");
    const failures = Array.from({ length: 120 }, (_, i) => ({
      name: `case ${i}`,
      path: ["math"],
      status: "failed",
      reason: `case ${i} failed`,
      location: { file: "lib/math.c", line: i + 1 },
    }));
    const now = new Date().toISOString();
    const result = {
      ...{
        name: "unit",
        suite: "unit",
        matrix: {},
        runner: "docker",
        status: "failed",
        outcome: "failed",
        reason: "120 of 120 tests failed",
        exitCode: 1,
        resultsFormat: "tap",
      },
      ...{ tests: { passed: 0, failed: 120, skipped: 0, errored: 0, total: 120 }, failures, slowest: [], startedAt: now, finishedAt: now, durationMs: 10 },
      ...{
        metrics: { wallMs: 10, cpuMs: 1, memoryPeakBytes: 1 },
        dir: "jobs/unit",
        logs: { stdout: "stdout.log", stderr: "stderr.log" },
        artifacts: [],
        stdoutTruncated: false,
        stderrTruncated: false,
      },
    };
    await report(s, job.id, { kind: "started" });
    await report(s, job.id, { kind: "finished", status: "failed", outcome: "failed", reason: "120 of 120 tests failed", result });
    const run = await until(async () => (runOf(s, "unit")?.status === "completed" ? runOf(s, "unit") : null), "the check run completed");
    await untilSettled(s);
    expect(run).toMatchObject({ conclusion: "failure" });
    expect((run.output.annotations as { start_line: number }[]).map((a) => a.start_line)).toEqual(failures.slice(0, 50).map((f) => f.location.line));
    expect(run.output.summary).toContain("**70 more failures** than listed here: see the results artifact.");
    const annotated = s.github.requests.filter(
      (r) => r.operationId === "checks/update" && (r.body.output as { annotations?: unknown[] } | undefined)?.annotations?.length,
    );
    expect(annotated).toHaveLength(1);
    expect(s.github.rejected).toEqual([]);
  });
});

describe("a final check-run update GitHub applied but whose answer was lost", () => {
  it("is sent again without adding its annotations twice", async () => {
    const s = await start();
    const job = await unitRunning(s);
    const updates = () => s.github.requests.filter((r) => r.operationId === "checks/update").length;
    const before = updates();
    s.github.state.lostAnswers.set("checks/update", [502]);
    await report(s, job.id, failedAtLines([1, 2, 3]));
    await until(async () => updates() >= before + 2, "the final update sent again after its lost answer");
    const run = runOf(s, "unit")!;
    expect(run).toMatchObject({ status: "completed", conclusion: "failure" });
    expect((run.output.annotations as { start_line: number }[]).map((a) => a.start_line)).toEqual([1, 2, 3]);
    // Only the try after the lost one reads what the check run has: a first try has nothing to look for.
    expect(s.github.requests.filter((r) => r.operationId === "checks/list-annotations")).toHaveLength(1);
    expect(s.github.rejected).toEqual([]);
  });
});

describe("a final check-run update put off by a rate limit", () => {
  it("is sent again whole on its next try, its annotations once, with no lookup", async () => {
    const s = await start();
    const job = await unitRunning(s);
    s.github.state.failures.set("checks/update", [429]);
    const lines = Array.from({ length: 60 }, (_, i) => i + 1);
    await report(s, job.id, failedAtLines(lines));
    await until(async () => runOf(s, "unit")?.status === "completed", "the check run completed");
    await untilSettled(s);
    expect(s.github.state.outageServed).toBe(1);
    expect((runOf(s, "unit")!.output.annotations as { start_line: number }[]).map((a) => a.start_line)).toEqual(lines.slice(0, 50));
    // Put off, nothing of it went out: its next try has nothing to look for.
    expect(s.github.requests.filter((r) => r.operationId === "checks/list-annotations")).toHaveLength(0);
    expect(s.github.rejected).toEqual([]);
  });
});

describe("a final check-run update GitHub refuses for its content", () => {
  it("is sent again with a short summary, so the job's conclusion and Re-run button land", async () => {
    const s = await start();
    const job = await unitRunning(s);
    s.github.state.outputRefusals.push("Invalid request.\n\nOnly 65535 characters are allowed; 65672 were supplied.");
    await report(s, job.id, failedAtLines([1, 2, 3]));
    const run = await until(async () => (runOf(s, "unit")?.status === "completed" ? runOf(s, "unit") : null), "the check run completed");
    await untilSettled(s);
    expect(run).toMatchObject({ conclusion: "failure", actions: [{ identifier: "rerun" }] });
    expect(run.output.summary).toContain("Left out: the summary");
    expect(run.output.summary).toContain("and 3 annotations.");
    expect(s.github.state.outputRefusals).toEqual([]);
    expect(s.github.rejected).toEqual([]);
  });
});

describe("a check run GitHub created but whose answer was lost", () => {
  // How many listings GitHub leaves the new check run out of, and so how often kto looks.
  it.each([
    ["listed at once", 0, 1],
    ["listed only after a moment", 2, 3],
  ])("is found by its external id, not created twice: %s", async (_, unlistedFor, lookups) => {
    const s = await start();
    s.github.state.lostAnswers.set("checks/create", [502]);
    s.github.state.checkRunsUnlistedFor = unlistedFor;
    await unitRunning(s);
    expect(checkRuns(s, HEAD).filter((c) => c.name === "kto / unit")).toHaveLength(1);
    expect(s.github.requests.filter((r) => r.operationId === "checks/create")).toHaveLength(1);
    // Looked for in kto's own check suite on the commit: another App's check run of the same
    // name and external id is not adopted, and the commit's other suites do not hide it.
    const suites = s.github.requests.filter((r) => r.operationId === "checks/list-suites-for-ref");
    expect(suites).toHaveLength(lookups);
    expect(new URL(suites[0]!.url, "http://x").searchParams.get("app_id")).toBe("1");
    expect(s.github.requests.filter((r) => r.operationId === "checks/list-for-suite")).toHaveLength(lookups);
    expect(s.github.rejected).toEqual([]);
  });
});
