import { afterEach, beforeEach, expect } from "@jest/globals";
import type { RunningApp } from "../../../src/app/server.js";
import type { GitHubApiDouble } from "../../helpers/github-api-double.js";
import { PUBLIC_URL, startTestApp, type TestApp } from "../../helpers/test-app.js";

/**
 * The world of the App's end-to-end tests (test/e2e/app/): before each test a fresh App
 * against a fresh GitHub API double that serves REPO's config at SHA and one x86_64 runner,
 * and the checks those tests make of it. `app` and `github` are the current test's.
 */

export { example } from "../../helpers/webhook-examples.js";

export const REPO = "Codertocat/Hello-World";
export const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
export const publicUrl = PUBLIC_URL;
export const CONFIG = `version: 1
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
  - name: board
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [arm64] }
`;

export let github: GitHubApiDouble;
export let app: RunningApp;
let current: TestApp;

/** Starts the App and its double before each test of the calling file, and closes them after it. */
export function useAppUnderTest(): void {
  beforeEach(async () => {
    current = await startTestApp({
      start: {
        runLookupWindowMs: 500,
        orchestrator: { outbox: { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 200, concurrency: 4 } },
      },
    });
    ({ github, app } = current);
    github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, CONFIG);
    github.state.runners.set(REPO, [
      {
        id: 7,
        name: "rack-1",
        os: "linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", "linux", "x86_64", "kto-runner-rack-1"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
      },
    ]);
  });

  afterEach(async () => {
    await current.close();
  });
}

/** The unit job's result as the action reports it: one of two tests failed. */
export function unitResult() {
  return {
    name: "unit",
    tests: { passed: 1, failed: 1, skipped: 0, errored: 0, total: 2 },
    failures: [{ name: "adds", path: ["math"], status: "failed", reason: "expected 4, got 3", location: { file: "lib/math.c", line: 12 } }],
    slowest: [],
    status: "failed",
    outcome: "failed",
    reason: "1 of 2 tests did not pass",
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: 1200,
    metrics: { wallMs: 1200, cpuMs: 100, memoryPeakBytes: 1_000_000 },
    dir: "jobs/unit",
    logs: { stdout: "stdout.log", stderr: "stderr.log" },
    artifacts: [],
    suite: "unit",
    matrix: {},
    runner: "docker",
    exitCode: 1,
    resultsFormat: "ktap",
    stdoutTruncated: false,
    stderrTruncated: false,
    artifactUrl: "https://github.com/o/r/actions/runs/1/artifacts/9",
  };
}

/** POSTs a webhook signed as GitHub signs it; the status. */
export function deliver(event: string, payload: Record<string, unknown>, id?: string): Promise<number> {
  return current.deliver(event, payload, id);
}

/** A run's OIDC token, as the issuer the App trusts signs it for the run `claims` name (and these claims over its own). */
export function token(claims: Record<string, unknown>): Promise<string> {
  return current.issuer.token(String(claims.repository), String(claims.run_id), new URL(publicUrl).origin, claims);
}

export function report(jobId: string, bearer: string, body: Record<string, unknown>): Promise<Response> {
  return current.runEvent(jobId, bearer, body);
}

/** Property 4: real-time status accuracy — /kto/status equals the store's truth. */
export async function expectStatusMatchesStore(): Promise<void> {
  // The orchestrator keeps working meanwhile: the answer must equal the store as it was
  // just before or just after the request.
  const before = await app.store.jobs.countsByState();
  const status = (await (await fetch(`${app.url}/kto/status`)).json()) as { counts: Record<string, number> };
  const after = await app.store.jobs.countsByState();
  expect([JSON.stringify(before), JSON.stringify(after)]).toContain(JSON.stringify(status.counts));
}

/** Reports forged (another key), for another run, or from another repository: 401, and nothing changes. */
export async function expectForgedReportsRefused(jobId: string, runId: string): Promise<void> {
  const finished = { attempt: 1, kind: "finished", status: "succeeded" };
  expect((await report(jobId, await current.issuer.forged(REPO, runId, new URL(publicUrl).origin), finished)).status).toBe(401);
  expect((await report(jobId, await token({ repository: REPO, run_id: "999" }), finished)).status).toBe(401);
  expect((await report(jobId, await token({ repository: "evil/fork", run_id: runId }), finished)).status).toBe(401);
  expect((await app.store.jobs.job(jobId))?.state).toBe("running");
}

export const checkRuns = () =>
  [...github.state.checkRuns.values()] as {
    id: number;
    name: string;
    status: string;
    conclusion?: string;
    external_id?: string;
    output: { title: string; summary: string; annotations?: unknown[] };
    details_url?: string;
  }[];
