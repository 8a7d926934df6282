import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "@jest/globals";
import { sign } from "@octokit/webhooks-methods";
import { startApp, WEBHOOKS_PATH, type RunningApp } from "../../src/app/server.js";
import { doubleAppSettings } from "../helpers/app-settings.js";
import { GHES_VERSIONS, startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { startOidcIssuer, type OidcIssuer } from "../helpers/oidc-issuer.js";
import { freshStore } from "../helpers/stores.js";
import { jobReport } from "../helpers/job-report.js";
import { until, untilSettled } from "../helpers/until.js";

/**
 * kto against the parts of GitHub's contract no schema states: the GitHub Enterprise Server
 * descriptions, check runs that cannot be reopened and add up their annotations, the
 * inputs a dispatch may carry, and which of a pull request's jobs a command or a re-run
 * touches. The double refuses what GitHub would (`rejected`); each test fails on any.
 */

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];
function example(event: string, action: string, index = 1): Record<string, unknown> {
  const found = examples.find((e) => e.name === event)!.examples.filter((e) => (e.action ?? "") === action);
  return structuredClone(found[Math.min(index, found.length - 1)]!);
}

const REPO = "Codertocat/Hello-World";
const HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const NEXT = "1111111111111111111111111111111111111111";
const SECRET = "webhook-secret";
const PUBLIC_URL = "https://kto.example.com";
const suite = (name: string, extra = "") => `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n${extra}`;
const TWO = `version: 1\nsuites:\n${suite("unit")}${suite("board")}`;

type CheckRun = {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  external_id?: string;
  output: { title: string; summary: string; annotations?: unknown[] };
};

interface System {
  github: GitHubApiDouble;
  app: RunningApp;
  issuer: OidcIssuer;
  close(): Promise<void>;
}

let system: System | null = null;
afterEach(async () => {
  await system?.close();
  system = null;
});

async function start(options: { ghesVersion?: string; runners?: number } = {}): Promise<System> {
  const github = await startGitHubApiDouble(options.ghesVersion ? { ghesVersion: options.ghesVersion } : {});
  github.state.runners.set(
    REPO,
    Array.from({ length: options.runners ?? 2 }, (_, i) => ({
      id: 7 + i,
      name: `rack-${i}`,
      os: "linux",
      status: "online" as const,
      busy: false,
      labels: ["self-hosted", "linux", `kto-runner-rack-${i}`].map((name, n) => ({ id: n + 1, name, type: "custom" as const })),
    })),
  );
  const issuer = await startOidcIssuer();
  const fresh = await freshStore("sqlite");
  const settings = doubleAppSettings(github.url, {
    WEBHOOK_SECRET: SECRET,
    KTO_PUBLIC_URL: PUBLIC_URL,
    KTO_OIDC_ISSUER: issuer.url,
    KTO_OIDC_JWKS_URL: issuer.jwksUrl,
  });
  const app = await startApp(settings, {
    store: fresh.store,
    logLevel: "fatal",
    throttle: false,
    runLookupDelayMs: 50,
    orchestrator: { pollMs: 100, outboxPollMs: 100, lockTtlMs: 2_000, outbox: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200, concurrency: 4 } },
  });
  system = {
    github,
    app,
    issuer,
    close: async () => {
      await app.close();
      await fresh.dispose();
      await github.close();
      await issuer.close();
    },
  };
  return system;
}

async function deliver(s: System, event: string, payload: Record<string, unknown>): Promise<number> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${s.app.url}${WEBHOOKS_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": await sign(SECRET, body),
    },
    body,
  });
  return response.status;
}

/** Pull request #1 of REPO opened, or pushed to, at `sha` with `config`. */
async function push(s: System, sha: string, config = TWO, action = "opened"): Promise<void> {
  s.github.state.files.set(`${REPO}@${sha}:.github/kto.yml`, config);
  // As the payload has it: the owner's own branch.
  s.github.state.pulls.set(`${REPO}#1`, { number: 1, head: { sha, repo: { full_name: REPO } }, base: { ref: "master" }, author_association: "OWNER" });
  const payload = example("pull_request", "opened") as { action: string; number: number; pull_request: { number: number; head: { sha: string } } };
  payload.action = action;
  payload.number = payload.pull_request.number = 1;
  payload.pull_request.head.sha = sha;
  expect(await deliver(s, "pull_request", payload)).toBe(200);
}

function comment(body: string, login = "maintainer"): Record<string, unknown> {
  const c = example("issue_comment", "created") as {
    comment: { body: string; created_at: string; user: { login: string } };
    issue: { number: number; pull_request?: unknown };
  };
  c.comment.body = body;
  c.comment.user.login = login;
  c.comment.created_at = new Date(Date.now() + 1_000).toISOString();
  c.issue.number = 1;
  c.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/1` };
  return { ...c, installation: { id: 1 } };
}

/** A check run's button or GitHub's Re-run link pressed on `run`. */
function rerun(run: CheckRun): Record<string, unknown> {
  const payload = example("check_run", "rerequested", 0) as {
    check_run: Record<string, unknown>;
    repository: Record<string, unknown> & { owner: Record<string, unknown> };
  };
  payload.check_run = { ...payload.check_run, id: run.id, external_id: run.external_id, name: run.name, head_sha: run.head_sha };
  payload.repository = { ...payload.repository, full_name: REPO, name: "Hello-World", owner: { ...payload.repository.owner, login: "Codertocat" } };
  return { ...payload, installation: { id: 1 } };
}

const checkRuns = (s: System, sha?: string) => ([...s.github.state.checkRuns.values()] as unknown as CheckRun[]).filter((c) => !sha || c.head_sha === sha);
const runOf = (s: System, name: string, sha = HEAD) =>
  checkRuns(s, sha)
    .filter((c) => c.name === `kto / ${name}`)
    .at(-1);
const dispatchedJob = (s: System, index: number) =>
  JSON.parse(s.github.state.dispatches[index]!.inputs.job!) as { id: string; attempt: number; spec: { suite: string } };

/** The job's run reports as the runner workflow does, with its OIDC token. */
async function report(s: System, jobId: string, body: Record<string, unknown>): Promise<void> {
  const job = await until(async () => {
    const found = await s.app.store.jobsRepo.job(jobId);
    return found?.runId && /^\d+$/.test(found.runId) ? found : null;
  }, `${jobId}'s run id`);
  const bearer = await s.issuer.token(REPO, job.runId!, new URL(PUBLIC_URL).origin);
  const response = await fetch(`${s.app.url}/kto/api/jobs/${encodeURIComponent(jobId)}/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: JSON.stringify({ attempt: job.attempt, ...body }),
  });
  expect(response.status).toBe(200);
}

/** The finished report of "unit" with a test failing at each of `lines` of lib/math.c: an annotation each. */
function failedAtLines(lines: number[]): Record<string, unknown> {
  const failures = lines.map((line) => ({
    name: `case ${line}`,
    path: [],
    status: "failed" as const,
    reason: "expected 4, got 3",
    location: { file: "lib/math.c", line },
  }));
  return { kind: "finished", status: "failed", outcome: "failed", reason: `${lines.length} tests failed`, result: jobReport("unit", "failed", { failures }) };
}

/** One suite, "unit", pushed, dispatched and started: its check run is in progress. */
async function unitRunning(s: System): Promise<{ id: string }> {
  await push(s, HEAD, `version: 1\nsuites:\n${suite("unit")}`);
  const job = await until(async () => s.github.state.dispatches[0] && dispatchedJob(s, 0), "the dispatch");
  await report(s, job.id, { kind: "started" });
  await until(async () => runOf(s, "unit")?.status === "in_progress", "the check run in progress");
  return job;
}

describe("kto on GitHub Enterprise Server", () => {
  it.each(GHES_VERSIONS)("on GHES %s dispatches without return_run_details, finds each run by its run-name and reports it", async (version) => {
    const s = await start({ ghesVersion: version });
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "both jobs dispatched");
    const bodies = s.github.requests.filter((r) => r.operationId === "actions/create-workflow-dispatch").map((r) => r.body);
    expect(bodies.every((b) => !("return_run_details" in b) && Object.keys(b.inputs as object).length <= 10)).toBe(true);
    const unit = dispatchedJob(s, 0).spec.suite === "unit" ? dispatchedJob(s, 0) : dispatchedJob(s, 1);
    await report(s, unit.id, { kind: "started" });
    await until(async () => runOf(s, "unit")?.status === "in_progress", "the unit check run in progress");
    expect(s.github.requests.every((r) => r.server.kind === "ghes" && r.server.version === version)).toBe(true);
    expect(s.github.rejected).toEqual([]);
  });
});

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

describe("a dispatch GitHub would refuse is not sent", () => {
  it("fails the job, naming the size, when its inputs come to more than GitHub's 65,535 characters", async () => {
    const s = await start();
    // Within the config's 60 KiB a job, but every quote is escaped once more in the inputs.
    const quotes = '"'.repeat(20_000);
    await push(s, HEAD, `version: 1\nsuites:\n  - name: unit\n    runner: docker\n    image: kto/busybox:1\n    command: '${quotes}'\n`);
    const run = await until(async () => (runOf(s, "unit")?.status === "completed" ? runOf(s, "unit") : null), "the check run completed");
    expect(run.conclusion).toBe("failure");
    expect(run.output.summary).toMatch(/inputs come to \d+ characters as JSON; GitHub takes at most 65,535/);
    expect(s.github.requests.filter((r) => r.operationId === "actions/create-workflow-dispatch")).toEqual([]);
    expect(s.github.rejected).toEqual([]);
  });
});

describe("one job of a pull request", () => {
  it("is cancelled by `/kto cancel <job>` from a writer, and its siblings run on; an unknown name is answered", async () => {
    const s = await start();
    s.github.state.permissions.set(REPO, new Map([["maintainer", "write"]]));
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "both jobs dispatched");
    const board = dispatchedJob(s, 0).spec.suite === "board" ? s.github.state.dispatches[0]! : s.github.state.dispatches[1]!;
    expect(await deliver(s, "issue_comment", comment("/kto cancel board", "passer-by"))).toBe(200);
    expect(await deliver(s, "issue_comment", comment("/kto cancel kto / board"))).toBe(200);
    await until(async () => runOf(s, "board")?.conclusion === "cancelled", "the board job cancelled");
    expect(s.github.state.cancelled).toEqual([board.runId]);
    expect(runOf(s, "unit")?.status).not.toBe("completed");
    expect(await deliver(s, "issue_comment", comment("/kto cancel bored"))).toBe(200);
    const answer = await until(async () => checkRuns(s).find((c) => c.name === "kto / cancel"), "the answer to an unknown name");
    expect(answer).toMatchObject({
      head_sha: HEAD,
      conclusion: "neutral",
      output: { title: "/kto cancel bored by @maintainer: no waiting or running job of that name" },
    });
    expect(answer.output.summary).toContain("`unit`");
    expect(runOf(s, "unit")?.status).not.toBe("completed");
    expect(s.github.rejected).toEqual([]);
  });

  it("is re-run alone: its siblings, still running, are not cancelled", async () => {
    const s = await start();
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "both jobs dispatched");
    const unit = dispatchedJob(s, 0).spec.suite === "unit" ? dispatchedJob(s, 0) : dispatchedJob(s, 1);
    await report(s, unit.id, { kind: "started" });
    await report(s, unit.id, { kind: "finished", status: "failed", reason: "1 test failed" });
    const failed = await until(async () => (runOf(s, "unit")?.conclusion === "failure" ? runOf(s, "unit") : null), "the unit job failed");
    expect(await deliver(s, "check_run", rerun(failed))).toBe(200);
    await until(async () => s.github.state.dispatches.length === 3, "the unit job dispatched again");
    expect(dispatchedJob(s, 2).spec.suite).toBe("unit");
    await untilSettled(s);
    expect(s.github.state.cancelled).toEqual([]);
    expect(runOf(s, "board")?.conclusion).toBeUndefined();
    expect(s.github.rejected).toEqual([]);
  });

  it("re-run from an older commit runs that commit's job and leaves the head's plan be", async () => {
    const s = await start({ runners: 3 });
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "the first commit's jobs dispatched");
    await push(s, NEXT, TWO, "synchronize");
    await until(async () => checkRuns(s, HEAD).filter((c) => c.conclusion === "cancelled").length === 2, "the first commit's jobs superseded");
    await until(async () => s.github.state.dispatches.length === 4, "the head's jobs dispatched");
    const cancelled = s.github.state.cancelled.length;
    expect(await deliver(s, "check_run", rerun(runOf(s, "unit", HEAD)!))).toBe(200);
    await until(async () => s.github.state.dispatches.length === 5, "the old commit's job dispatched again");
    expect(s.github.state.dispatches[4]!.inputs.sha).toBe(HEAD);
    await untilSettled(s);
    expect(s.github.state.cancelled).toHaveLength(cancelled);
    expect(checkRuns(s, NEXT).every((c) => c.status !== "completed")).toBe(true);

    // A push supersedes that re-run too, with the rest of the pull request's older work.
    const third = "3333333333333333333333333333333333333333";
    await push(s, third, TWO, "synchronize");
    await until(
      async () =>
        checkRuns(s, HEAD)
          .filter((c) => c.name === "kto / unit")
          .at(-1)?.conclusion === "cancelled",
      "the re-run superseded",
    );
    expect(s.github.rejected).toEqual([]);
  });

  it("re-runs an older commit's check suite beside the head's plan, cancelling none of it", async () => {
    const s = await start({ runners: 4 });
    await push(s, HEAD);
    await until(async () => s.github.state.dispatches.length === 2, "the first commit's jobs dispatched");
    await push(s, NEXT, TWO, "synchronize");
    await until(async () => s.github.state.dispatches.length === 4, "the head's jobs dispatched");
    const cancelled = s.github.state.cancelled.length;
    const payload = example("check_suite", "rerequested", 0) as {
      check_suite: { head_sha: string; pull_requests: { number: number; head: { sha: string } }[] };
    };
    payload.check_suite.head_sha = HEAD;
    payload.check_suite.pull_requests[0]!.number = 1;
    payload.check_suite.pull_requests[0]!.head.sha = NEXT;
    expect(await deliver(s, "check_suite", { ...payload, installation: { id: 1 } })).toBe(200);
    await until(async () => s.github.state.dispatches.length === 6, "the old commit's suite dispatched again");
    expect(s.github.state.dispatches.slice(4).map((d) => d.inputs.sha)).toEqual([HEAD, HEAD]);
    await untilSettled(s);
    expect(s.github.state.cancelled).toHaveLength(cancelled);
    expect(checkRuns(s, NEXT).every((c) => c.status !== "completed")).toBe(true);
    expect(s.github.rejected).toEqual([]);
  });
});
