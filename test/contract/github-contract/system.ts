import { afterEach, expect } from "@jest/globals";
import type { Clock } from "../../../src/orchestrator/clock.js";
import { jobReport } from "../../helpers/job-report.js";
import { PUBLIC_URL, startTestApp, type TestApp } from "../../helpers/test-app.js";
import { until } from "../../helpers/until.js";
import { example } from "../../helpers/webhook-examples.js";

/**
 * The world of the contract tests (test/contract/github-contract/): an App against a GitHub
 * API double with runners for REPO, pull request #1 pushed to, its jobs reporting as the
 * runner workflow does, and how its check runs and dispatches are read back.
 */

export { example };

export const REPO = "Codertocat/Hello-World";
export const HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
export const NEXT = "1111111111111111111111111111111111111111";
export const suite = (name: string, extra = "") => `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n${extra}`;
export const TWO = `version: 1\nsuites:\n${suite("unit")}${suite("board")}`;

export type CheckRun = {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  external_id?: string;
  output: { title: string; summary: string; annotations?: unknown[] };
};

/** The App, its GitHub API double and the OIDC issuer its runs' tokens come from. */
export type System = TestApp;

let system: System | null = null;

/** Closes the system each test of the calling file started, after it. */
export function closeSystemAfterEach(): void {
  afterEach(async () => {
    await system?.close();
    system = null;
  });
}

/** The App against the double as a GHES (`ghesVersion`, else the oldest supported) or, with `server: "github.com"`, as github.com. */
export async function start(options: { ghesVersion?: string; server?: "ghes" | "github.com"; runners?: number; clock?: Clock } = {}): Promise<System> {
  system = await startTestApp({
    ...(options.ghesVersion ? { double: { ghesVersion: options.ghesVersion } } : {}),
    ...(options.server ? { server: options.server } : {}),
    start: {
      orchestrator: { outbox: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200, concurrency: 4 } },
      ...(options.clock ? { clock: options.clock } : {}),
    },
  });
  system.github.state.runners.set(
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
  return system;
}

export function deliver(s: System, event: string, payload: Record<string, unknown>): Promise<number> {
  return s.deliver(event, payload);
}

/** Pull request #1 of REPO opened, or pushed to, at `sha` with `config`. */
export async function push(s: System, sha: string, config = TWO, action = "opened"): Promise<void> {
  s.github.state.files.set(`${REPO}@${sha}:.github/kto.yml`, config);
  // As the payload has it: the owner's own branch.
  s.github.state.pulls.set(`${REPO}#1`, { number: 1, head: { sha, repo: { full_name: REPO } }, base: { ref: "master" }, author_association: "OWNER" });
  const payload = example("pull_request", "opened") as { action: string; number: number; pull_request: { number: number; head: { sha: string } } };
  payload.action = action;
  payload.number = payload.pull_request.number = 1;
  payload.pull_request.head.sha = sha;
  expect(await deliver(s, "pull_request", payload)).toBe(200);
}

/** A push of `commit` to the default branch, master, as GitHub delivers it to the App's installation. */
export async function pushToMaster(s: System, commit: string): Promise<void> {
  const payload = example("push", "", 0) as {
    ref: string;
    after: string;
    deleted: boolean;
    repository: { default_branch: string };
    installation?: { id: number };
  };
  payload.ref = "refs/heads/master";
  payload.after = commit;
  payload.deleted = false;
  payload.repository.default_branch = "master";
  payload.installation = { id: 1 };
  expect(await deliver(s, "push", payload)).toBe(200);
}

export function comment(body: string, login = "maintainer"): Record<string, unknown> {
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
export function rerun(run: CheckRun): Record<string, unknown> {
  const payload = example("check_run", "rerequested", 0) as {
    check_run: Record<string, unknown>;
    repository: Record<string, unknown> & { owner: Record<string, unknown> };
  };
  payload.check_run = { ...payload.check_run, id: run.id, external_id: run.external_id, name: run.name, head_sha: run.head_sha };
  payload.repository = { ...payload.repository, full_name: REPO, name: "Hello-World", owner: { ...payload.repository.owner, login: "Codertocat" } };
  return { ...payload, installation: { id: 1 } };
}

export const checkRuns = (s: System, sha?: string) =>
  ([...s.github.state.checkRuns.values()] as unknown as CheckRun[]).filter((c) => !sha || c.head_sha === sha);
export const runOf = (s: System, name: string, sha = HEAD) =>
  checkRuns(s, sha)
    .filter((c) => c.name === `kto / ${name}`)
    .at(-1);
export const dispatchedJob = (s: System, index: number) =>
  JSON.parse(s.github.state.dispatches[index]!.inputs.job!) as { id: string; attempt: number; spec: { suite: string } };

/** The job's run reports as the runner workflow does, with its OIDC token. */
export async function report(s: System, jobId: string, body: Record<string, unknown>): Promise<void> {
  const job = await until(async () => {
    const found = await s.app.store.jobs.job(jobId);
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
export function failedAtLines(lines: number[]): Record<string, unknown> {
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
export async function unitRunning(s: System): Promise<{ id: string }> {
  await push(s, HEAD, `version: 1\nsuites:\n${suite("unit")}`);
  const job = await until(async () => s.github.state.dispatches[0] && dispatchedJob(s, 0), "the dispatch");
  await report(s, job.id, { kind: "started" });
  await until(async () => runOf(s, "unit")?.status === "in_progress", "the check run in progress");
  return job;
}
