import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { WEBHOOKS_PATH, type RunningApp } from "../../src/app/server.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import type { OidcIssuer } from "../helpers/oidc-issuer.js";
import { PUBLIC_URL, startTestApp, type TestApp } from "../helpers/test-app.js";
import { until, untilSettled } from "../helpers/until.js";
import { example } from "../helpers/webhook-examples.js";
import { postStream } from "../helpers/app-process.js";
import { STORED_FAILURES, STORED_REPORT_BYTES, type StoredReport } from "../../src/app/http/stored-report.js";
import { jobReport } from "../helpers/job-report.js";

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const AUDIENCE = PUBLIC_URL;
const MB = 1024 * 1024;
/** Small body limits, so that one client's room is easy to fill and a slow body is cut off soon. */
const BODIES = { perClientBytes: 8 * MB, timeoutMs: 1_000 };
const CONFIG = `version: 1
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
`;

describe("runners' reports to POST /kto/api/jobs/{id}/events", () => {
  let github: GitHubApiDouble;
  let issuer: OidcIssuer;
  let app: RunningApp;
  let running: TestApp;
  /** The bytes the App's bodies hold now. */
  let heldBytes = 0;

  beforeEach(async () => {
    running = await startTestApp({ start: { bodies: { ...BODIES, onHeld: (bytes) => (heldBytes = bytes) } } });
    ({ github, issuer, app } = running);
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
    await running.close();
  });

  /** A pull request's job, dispatched to rack-1 and bound to the run GitHub started for it. */
  async function dispatchedJob(): Promise<{ jobId: string; runId: string }> {
    expect(await running.deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const dispatch = await until(async () => github.state.dispatches[0], "the job's dispatch");
    const jobId = (JSON.parse(dispatch.inputs.job!) as { id: string }).id;
    const runId = String(dispatch.runId);
    await until(async () => (await app.store.jobs.job(jobId))?.runId === runId, "the run id recorded");
    return { jobId, runId };
  }

  /** As the dispatcher leaves a job when GitHub gave no run id and the run-name lookup found none yet. */
  async function forgetRunId(jobId: string, runId: string | null): Promise<void> {
    await app.store.db.updateTable("jobs").set({ run_id: runId }).where("id", "=", jobId).execute();
  }

  function report(jobId: string, token: string, body: unknown): Promise<Response> {
    return running.runEvent(jobId, token, body);
  }

  const finished = { attempt: 1, kind: "finished", status: "succeeded", outcome: "passed", reason: "forged" };

  it("takes a report for a job whose run id is unknown only from the run the App dispatched", async () => {
    const { jobId, runId } = await dispatchedJob();
    // Another run of the runner workflow in the same repository: someone with write access dispatched it by hand.
    const other = await issuer.token(REPO, "424242", AUDIENCE);
    await forgetRunId(jobId, null);
    const refused = await report(jobId, other, finished);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toContain("run 424242 is not the run");
    const job = await app.store.jobs.job(jobId);
    expect(job).toMatchObject({ state: "dispatched" });
    expect(job?.runId).not.toBe("424242");
    const own = await issuer.token(REPO, runId, AUDIENCE);
    expect((await report(jobId, own, { attempt: 1, kind: "started" })).status).toBe(200);
    expect(await app.store.jobs.job(jobId)).toMatchObject({ state: "running", runId });
    expect(github.rejected).toEqual([]);
  });

  it("asks the run to retry while GitHub does not list the run the App dispatched yet, and takes it once it does", async () => {
    const { jobId, runId } = await dispatchedJob();
    await forgetRunId(jobId, null);
    const listed = github.state.dispatches.splice(0);
    const own = await issuer.token(REPO, runId, AUDIENCE);
    const early = await report(jobId, own, { attempt: 1, kind: "started" });
    expect(early.status).toBe(503);
    expect(early.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await app.store.jobs.job(jobId))?.state).toBe("dispatched");
    github.state.dispatches.push(...listed);
    expect((await report(jobId, own, { attempt: 1, kind: "started" })).status).toBe(200);
    expect(await app.store.jobs.job(jobId)).toMatchObject({ state: "running", runId });
    expect(github.rejected).toEqual([]);
  });

  it("takes only tokens of a workflow_dispatch run of the kto runner workflow at the branch the App dispatched it on", async () => {
    const { jobId, runId } = await dispatchedJob();
    const at = (workflow: string, ref = "refs/heads/master") => `${REPO}/.github/workflows/${workflow}@${ref}`;
    const forged: [Record<string, unknown>, string][] = [
      [{ workflow_ref: at("ci.yml"), job_workflow_ref: at("ci.yml") }, "workflow_ref"],
      [
        {
          workflow_ref: at("kto-runner.yml", "refs/heads/attacker"),
          job_workflow_ref: at("kto-runner.yml", "refs/heads/attacker"),
          ref: "refs/heads/attacker",
        },
        "workflow_ref",
      ],
      [{ workflow_ref: at("kto-runner.yml", "refs/pull/9/merge"), job_workflow_ref: at("kto-runner.yml", "refs/pull/9/merge") }, "workflow_ref"],
      [{ job_workflow_ref: "attacker/actions/.github/workflows/kto-runner.yml@refs/heads/master" }, "job_workflow_ref"],
      [{ event_name: "push" }, "event_name"],
      [{ event_name: "pull_request_target" }, "event_name"],
      [{ workflow_ref: undefined }, "workflow_ref"],
      [{ job_workflow_ref: undefined }, "job_workflow_ref"],
      [{ event_name: undefined }, "event_name"],
    ];
    for (const [claims, named] of forged) {
      const response = await report(jobId, await issuer.token(REPO, runId, AUDIENCE, claims), finished);
      const message = String(((await response.json()) as { message?: string }).message);
      expect({ claims, status: response.status, names: message.includes(named) }).toEqual({ claims, status: 401, names: true });
    }
    expect((await app.store.jobs.job(jobId))?.state).toBe("dispatched");
    expect((await report(jobId, await issuer.token(REPO, runId, AUDIENCE), { attempt: 1, kind: "started" })).status).toBe(200);
    expect((await app.store.jobs.job(jobId))?.state).toBe("running");
  });

  it("answers a malformed report with 400 naming what is wrong, and changes nothing", async () => {
    const { jobId, runId } = await dispatchedJob();
    const token = await issuer.token(REPO, runId, AUDIENCE);
    const malformed: [string, string][] = [
      ['{"attempt": 1, "kind": ', "the body is not JSON"],
      ["[1, 2]", "(body): Expected object, received array"],
      ["null", "(body): Expected object, received null"],
      ['{"kind": "started"}', "attempt: Required"],
      ['{"attempt": 1, "kind": "done"}', "kind: Invalid discriminator value"],
      ['{"attempt": 1, "kind": "finished", "status": "succeeded", "result": {"name": "unit"}}', "result.suite: Required"],
    ];
    for (const [body, named] of malformed) {
      const response = await report(jobId, token, body);
      const message = String(((await response.json()) as { message?: string }).message);
      expect({ body, status: response.status, names: message.includes(named) }).toEqual({ body, status: 400, names: true });
    }
    const badPath = await fetch(`${app.url}/kto/api/jobs/%E0%A4%A/events`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });
    expect(badPath.status).toBe(400);
    expect(((await badPath.json()) as { message: string }).message).toContain("job id");
    const huge = await postStream(
      `${app.url}/kto/api/jobs/${encodeURIComponent(jobId)}/events`,
      { authorization: `Bearer ${token}`, "content-type": "application/json" },
      [Buffer.alloc(6 * 1024 * 1024, 0x20)],
      6 * 1024 * 1024,
    );
    expect(huge.status).toBe(413);
    expect((JSON.parse(huge.body) as { message: string }).message).toContain("larger than");
    expect((await app.store.jobs.job(jobId))?.state).toBe("dispatched");
  });

  /** A body of `total` bytes: its first `first` bytes, then the rest once `go` resolves. */
  async function* trickle(total: number, go: Promise<void>, first = 1024): AsyncGenerator<Buffer> {
    yield Buffer.alloc(first, 0x20);
    await go;
    yield Buffer.alloc(total - first, 0x20);
  }

  it("reads a report's body within the App's body limits: 429 while its client's room is taken, 408 when it trickles", async () => {
    const { jobId, runId } = await dispatchedJob();
    const token = await issuer.token(REPO, runId, AUDIENCE);
    const events = `${app.url}/kto/api/jobs/${encodeURIComponent(jobId)}/events`;
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // A webhook from the same client sends all but the last kilobyte of its 8 MB, and stalls:
    // a body holds what has arrived, so the client's room left is that kilobyte.
    const stalled = postStream(
      `${app.url}${WEBHOOKS_PATH}`,
      { "content-type": "application/json", "x-github-event": "ping", "x-github-delivery": "1", "x-hub-signature-256": `sha256=${"0".repeat(64)}` },
      trickle(8 * MB, held, 8 * MB - 1024),
      8 * MB,
    );
    await until(() => heldBytes === 8 * MB - 1024, "the stalled webhook holding 8 MB but a kilobyte");
    const crowded = await postStream(events, headers, [Buffer.alloc(2 * 1024, 0x20)], 2 * 1024);
    expect(crowded.status).toBe(429);
    expect(crowded.headers["retry-after"]).toBe("1");
    // The stalled webhook is cut off when its second is up, and gives its room back.
    expect((await stalled).status).toBe(408);
    const slow = await postStream(events, headers, trickle(2 * MB, held), 2 * MB);
    expect(slow.status).toBe(408);
    release();
    expect((await app.store.jobs.job(jobId))?.state).toBe("dispatched");
    expect((await report(jobId, token, { attempt: 1, kind: "started" })).status).toBe(200);
  });

  it("turns a report of 20,000 located failures into one check-run update of 50 annotations, and stores a few kilobytes of it", async () => {
    const { jobId, runId } = await dispatchedJob();
    const token = await issuer.token(REPO, runId, AUDIENCE);
    expect((await report(jobId, token, { attempt: 1, kind: "started" })).status).toBe(200);
    const checkRunId = await until(async () => (await app.store.jobs.job(jobId))?.checkRunId, "the job's check run");
    await until(() => github.state.checkRuns.get(checkRunId)?.status === "in_progress", "the check run in progress");
    const writesBefore = github.requests.filter((r) => r.operationId === "checks/update" && Number(r.params.check_run_id) === checkRunId).length;
    const failures = Array.from({ length: 20_000 }, (_, i) => ({
      name: `case ${i}`,
      path: ["math", "add"],
      status: "failed",
      reason: `expected ${i}, got ${i + 1}`,
      location: { file: "lib/math.c", line: i + 1 },
    }));
    const result = jobReport("unit", "failed", { failures, tests: { total: 20_000, passed: 0, failed: 20_000, errored: 0, skipped: 0 } });
    const body = JSON.stringify({ ...finished, status: "failed", outcome: "failed", reason: "20000 tests failed", result });
    expect(Buffer.byteLength(body)).toBeGreaterThan(1.5 * MB);
    expect((await report(jobId, token, body)).status).toBe(200);
    const run = await until(
      async () => (github.state.checkRuns.get(checkRunId)?.status === "completed" ? github.state.checkRuns.get(checkRunId) : null),
      "the check run completed",
    );
    await untilSettled({ app, github });
    const writes = github.requests.filter((r) => r.operationId === "checks/update" && Number(r.params.check_run_id) === checkRunId).length - writesBefore;
    expect(writes).toBe(1);
    const output = run.output as { summary: string; annotations: { start_line: number }[] };
    expect(output.annotations.map((a) => a.start_line)).toEqual(failures.slice(0, 50).map((f) => f.location.line));
    expect(output.summary).toContain("**19950 more failures** than listed here: see the results artifact.");
    const row = await app.store.db.selectFrom("jobs").select("result").where("id", "=", jobId).executeTakeFirstOrThrow();
    expect(Buffer.byteLength(row.result!)).toBeLessThanOrEqual(STORED_REPORT_BYTES);
    const stored = JSON.parse(row.result!) as StoredReport;
    expect({ tests: stored.tests, kept: stored.failures.length, omitted: stored.failuresOmitted }).toEqual({
      tests: result.tests,
      kept: STORED_FAILURES,
      omitted: 20_000 - STORED_FAILURES,
    });
    expect(stored.failures).toEqual(failures.slice(0, STORED_FAILURES));
    expect(github.rejected).toEqual([]);
  });
});
