import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
import { sign } from "@octokit/webhooks-methods";
import fc from "fast-check";
import { readFile } from "node:fs/promises";
import { parseConfig } from "../../src/config/load-config.js";
import { startApp, WEBHOOKS_PATH, type RunningApp } from "../../src/app/server.js";
import { doubleAppSettings } from "../helpers/app-settings.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { runnerRunClaims } from "../helpers/oidc-issuer.js";
import { freshStore } from "../helpers/stores.js";
import { until, untilSettled } from "../helpers/until.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];
function example(event: string, action: string, index = 1): Record<string, unknown> {
  const found = examples.find((e) => e.name === event)!.examples.filter((e) => (e.action ?? "") === action);
  return structuredClone(found[Math.min(index, found.length - 1)]!);
}

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const SECRET = "webhook-secret";
const ISSUER = "https://token.actions.example";
const CONFIG = `version: 1
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

/** The unit job's result as the action reports it: one of two tests failed. */
function unitResult() {
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

describe("the kto GitHub App against a GitHub API double", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let dispose: () => Promise<void>;
  let oidcKey: KeyLike;
  let jwks: ReturnType<typeof createServer>;
  let publicUrl: string;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
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
    const pair = await generateKeyPair("RS256");
    oidcKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    jwks = createServer((_, response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    const fresh = await freshStore("sqlite");
    dispose = fresh.dispose;
    publicUrl = "https://kto.example.com";
    const settings = doubleAppSettings(github.url, {
      WEBHOOK_SECRET: SECRET,
      KTO_PUBLIC_URL: publicUrl,
      KTO_OIDC_ISSUER: ISSUER,
      KTO_OIDC_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
    });
    app = await startApp(settings, {
      store: fresh.store,
      logLevel: "fatal",
      throttle: false,
      runLookupDelayMs: 50,
      runLookupWindowMs: 500,
      orchestrator: { pollMs: 100, outboxPollMs: 100, lockTtlMs: 2_000, outbox: { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 200, concurrency: 4 } },
    });
  });

  afterEach(async () => {
    await app.close();
    await dispose();
    await github.close();
    await new Promise((resolve) => jwks.close(resolve));
  });

  async function deliver(event: string, payload: Record<string, unknown>, id: string = randomUUID()): Promise<number> {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}${WEBHOOKS_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": id, "x-hub-signature-256": await sign(SECRET, body) },
      body,
    });
    return response.status;
  }

  async function token(claims: Record<string, unknown>, key: KeyLike = oidcKey): Promise<string> {
    return new SignJWT({ ...runnerRunClaims(String(claims.repository), String(claims.run_id)), ...claims })
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer(ISSUER)
      .setAudience(new URL(publicUrl).origin)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(key);
  }

  async function report(jobId: string, bearer: string, body: Record<string, unknown>): Promise<Response> {
    return fetch(`${app.url}/kto/api/jobs/${encodeURIComponent(jobId)}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  }

  /** Property 4: real-time status accuracy — /kto/status equals the store's truth. */
  async function expectStatusMatchesStore(): Promise<void> {
    // The orchestrator keeps working meanwhile: the answer must equal the store as it was
    // just before or just after the request.
    const before = await app.store.jobsRepo.countsByState();
    const status = (await (await fetch(`${app.url}/kto/status`)).json()) as { counts: Record<string, number> };
    const after = await app.store.jobsRepo.countsByState();
    expect([JSON.stringify(before), JSON.stringify(after)]).toContain(JSON.stringify(status.counts));
  }

  /** Reports forged (another key), for another run, or from another repository: 401, and nothing changes. */
  async function expectForgedReportsRefused(jobId: string, runId: string): Promise<void> {
    const other = await generateKeyPair("RS256");
    const finished = { attempt: 1, kind: "finished", status: "succeeded" };
    expect((await report(jobId, await token({ repository: REPO, run_id: runId }, other.privateKey), finished)).status).toBe(401);
    expect((await report(jobId, await token({ repository: REPO, run_id: "999" }), finished)).status).toBe(401);
    expect((await report(jobId, await token({ repository: "evil/fork", run_id: runId }), finished)).status).toBe(401);
    expect((await app.store.jobsRepo.job(jobId))?.state).toBe("running");
  }

  const checkRuns = () =>
    [...github.state.checkRuns.values()] as {
      id: number;
      name: string;
      status: string;
      conclusion?: string;
      external_id?: string;
      output: { title: string; summary: string; annotations?: unknown[] };
      details_url?: string;
    }[];

  it("turns a pull request into queued check runs, dispatches to the matching runner, and completes from OIDC-authenticated reports", async () => {
    const pr = example("pull_request", "opened");
    expect(await deliver("pull_request", pr, "delivery-1")).toBe(200);
    await until(async () => checkRuns().length === 2, "two check runs");
    await expectStatusMatchesStore();
    const dispatch = await until(async () => github.state.dispatches[0], "a workflow dispatch");
    expect(dispatch).toMatchObject({ repo: REPO, workflow: "kto-runner.yml", ref: "master" });
    expect(JSON.parse(dispatch.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-rack-1"]);
    const sent = JSON.parse(dispatch.inputs.job!) as { id: string; attempt: number; spec: { suite: string; timeoutMs: number } };
    expect(sent).toMatchObject({ attempt: 1, spec: { suite: "unit" } });
    // GitHub gives the run the job's own timeout and the run's overhead, never GitHub's 5 days.
    expect(dispatch.timeoutMinutes).toBe(Math.ceil(sent.spec.timeoutMs / 60_000) + 30);
    expect(dispatch.inputs).toMatchObject({ sha: SHA, app_url: publicUrl });
    const board = checkRuns().find((c) => c.name === "kto / board")!;
    await until(async () => board.output.title.startsWith("Queued"), "the board job's queue position");
    expect(board.output.summary).toContain("arm64");

    // A redelivered webhook changes nothing.
    expect(await deliver("pull_request", pr, "delivery-1")).toBe(200);
    expect(checkRuns()).toHaveLength(2);

    const good = await token({ repository: REPO, run_id: String(dispatch.runId) });
    expect((await report(sent.id, good, { attempt: 1, kind: "started" })).status).toBe(200);
    const unit = checkRuns().find((c) => c.name === "kto / unit")!;
    await until(async () => unit.status === "in_progress", "in_progress");
    expect(unit.details_url).toBe(`http://${new URL(github.url).host}/${REPO}/actions/runs/${dispatch.runId}`);
    await expectStatusMatchesStore();

    await expectForgedReportsRefused(sent.id, String(dispatch.runId));

    const result = unitResult();
    // A result the check run cannot be built from is refused, naming the field, and changes nothing.
    const partial = await report(sent.id, good, { attempt: 1, kind: "finished", status: "failed", result: { ...result, tests: { passed: "1" } } });
    expect(partial.status).toBe(400);
    expect(((await partial.json()) as { message: string }).message).toContain("result.tests.passed: Expected number, received string");
    expect((await app.store.jobsRepo.job(sent.id))?.state).toBe("running");
    expect(
      (await report(sent.id, good, { attempt: 1, kind: "finished", status: "failed", outcome: "failed", reason: "1 of 2 tests did not pass", result })).status,
    ).toBe(200);
    await until(async () => unit.status === "completed", "completed");
    expect(unit).toMatchObject({ conclusion: "failure", output: { title: "1 passed, 1 failed, 0 errored, 0 skipped" } });
    expect(unit.output.summary).toContain("[Download the logs and results](https://github.com/o/r/actions/runs/1/artifacts/9)");
    expect(unit.output.annotations).toEqual([
      { path: "lib/math.c", start_line: 12, end_line: 12, annotation_level: "failure", title: "math › adds", message: "expected 4, got 3" },
    ]);
    // Replaying the finished report changes nothing.
    const replay = await report(sent.id, good, { attempt: 1, kind: "finished", status: "succeeded" });
    expect(await replay.json()).toMatchObject({ applied: false, state: "failed" });
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("cancels the older plan when a new push arrives, and runs the new commit", async () => {
    const opened = example("pull_request", "opened");
    expect(await deliver("pull_request", opened)).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the first dispatch");
    const next = "1111111111111111111111111111111111111111";
    github.state.files.set(`${REPO}@${next}:.github/kto.yml`, CONFIG);
    const pushed = structuredClone(opened) as { action: string; pull_request: { head: { sha: string } }; before?: string; after?: string };
    pushed.action = "synchronize";
    pushed.pull_request.head.sha = next;
    pushed.before = SHA;
    pushed.after = next;
    expect(await deliver("pull_request", pushed)).toBe(200);
    await until(async () => checkRuns().filter((c) => c.conclusion === "cancelled").length === 2, "the old plan's check runs cancelled");
    expect(github.state.cancelled).toEqual([github.state.dispatches[0]!.runId]);
    const second = await until(async () => github.state.dispatches[1], "the new commit dispatched");
    expect(second.inputs.sha).toBe(next);
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("runs chosen suites on a repository_dispatch, and re-runs a finished job from its check run's button", async () => {
    const dispatch = example("repository_dispatch", "on-demand-test", 0) as {
      action: string;
      client_payload: unknown;
      repository: { full_name: string; name: string; owner: { login: string }; default_branch: string };
      installation: { id: number };
    };
    dispatch.action = "kto-run";
    dispatch.client_payload = { ref: "master", suites: ["unit"], priority: 4 };
    dispatch.repository.full_name = REPO;
    dispatch.repository.name = "Hello-World";
    dispatch.repository.owner.login = "Codertocat";
    github.state.refs.set(`${REPO}@master`, SHA);
    expect(await deliver("repository_dispatch", dispatch)).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    expect(JSON.parse(sent.inputs.job!)).toMatchObject({ spec: { suite: "unit", priority: 4 } });
    expect(checkRuns().map((c) => c.name)).toEqual(["kto / unit"]);

    const run = checkRuns()[0]!;
    const action = example("check_run", "requested_action", 0) as {
      check_run: Record<string, unknown>;
      requested_action?: unknown;
      repository: Record<string, unknown> & { owner: Record<string, unknown> };
      installation?: unknown;
    };
    action.check_run = { ...action.check_run, id: run.id, external_id: run.external_id, name: run.name, head_sha: SHA };
    action.requested_action = { identifier: "rerun" };
    action.repository = { ...action.repository, full_name: REPO, name: "Hello-World", owner: { ...action.repository.owner, login: "Codertocat" } };
    action.installation = { id: dispatch.installation.id };
    // GitHub shows the button on a completed check run only.
    const job = JSON.parse(sent.inputs.job!) as { id: string };
    const bearer = await token({ repository: REPO, run_id: String(sent.runId) });
    await until(async () => (await app.store.jobsRepo.job(job.id))?.runId === String(sent.runId), "the run id");
    expect((await report(job.id, bearer, { attempt: 1, kind: "finished", status: "failed", reason: "1 test failed" })).status).toBe(200);
    await until(async () => run.conclusion === "failure", "the check run failed");
    expect(run).toMatchObject({ actions: [{ identifier: "rerun" }] });
    expect(await deliver("check_run", action)).toBe(200);
    const again = await until(async () => github.state.dispatches[1], "the re-run dispatched");
    expect(JSON.parse(again.inputs.job!)).toMatchObject({ spec: { suite: "unit" } });
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("plans on a workflow_dispatch of the Run kto workflow, ignores kto's own runner dispatches, and refuses malformed inputs", async () => {
    const base = example("workflow_dispatch", "", 0) as Record<string, unknown> & { repository: Record<string, unknown> & { owner: Record<string, unknown> } };
    const dispatchOf = (workflow: string, inputs: Record<string, string>) => ({
      ...structuredClone(base),
      workflow,
      ref: "refs/heads/master",
      inputs,
      repository: { ...base.repository, full_name: REPO, name: "Hello-World", owner: { ...base.repository.owner, login: "Codertocat" } },
      installation: { id: 1 },
    });
    github.state.refs.set(`${REPO}@master`, SHA);

    expect(await deliver("workflow_dispatch", dispatchOf(".github/workflows/kto-runner.yml", { job: "{}" }))).toBe(200);
    expect(await deliver("workflow_dispatch", dispatchOf(".github/workflows/kto-run.yml", { suites: "unit", priority: "soon" }))).toBe(200);
    expect(Object.values(await app.store.jobsRepo.countsByState()).every((n) => n === 0)).toBe(true);
    expect(checkRuns()).toEqual([]);

    expect(await deliver("workflow_dispatch", dispatchOf(".github/workflows/kto-run.yml", { suites: "unit", priority: "urgent", ref: "" }))).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    expect(JSON.parse(sent.inputs.job!)).toMatchObject({ spec: { suite: "unit", priority: 4 } });
    expect(sent.inputs.sha).toBe(SHA);
    expect(checkRuns().map((c) => c.name)).toEqual(["kto / unit"]);
    expect(github.rejected).toEqual([]);
  });

  it("Property 4: real-time status accuracy — /kto/status equals the store's truth after every event and report", async () => {
    let pr = 100;
    const step = fc.oneof(
      fc.constant({ kind: "open" as const }),
      fc.record({ kind: fc.constant("report" as const), pick: fc.nat(), status: fc.constantFrom("started", "succeeded", "failed", "errored") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        for (const s of steps) {
          if (s.kind === "open") {
            const payload = example("pull_request", "opened") as { pull_request: { number: number; head: { sha: string } } };
            payload.pull_request.number = ++pr;
            payload.pull_request.head.sha = pr.toString(16).padStart(40, "0");
            github.state.files.set(`${REPO}@${payload.pull_request.head.sha}:.github/kto.yml`, CONFIG);
            expect(await deliver("pull_request", payload)).toBe(200);
          } else {
            const active = await app.store.jobsRepo.jobs({ states: ["dispatched", "running"] });
            const job = active[s.pick % Math.max(1, active.length)];
            if (job?.runId) {
              const bearer = await token({ repository: REPO, run_id: job.runId });
              const body =
                s.status === "started"
                  ? { attempt: job.attempt, kind: "started" }
                  : { attempt: job.attempt, kind: "finished", status: s.status, infrastructure: s.status === "errored" };
              expect((await report(job.id, bearer, body)).status).toBe(200);
            }
          }
          await expectStatusMatchesStore();
        }
      }),
      { numRuns: 6 },
    );
    expect(github.rejected).toEqual([]);
  });

  it("shows the files to add in a kto / setup check run when the runner workflow is missing, and sets up every repository it can", async () => {
    const installed = example("installation", "created", 1) as { repositories: { full_name: string }[]; installation: { id: number } };
    // The first repository's default branch cannot be read: the second is set up all the same.
    installed.repositories = [{ ...installed.repositories[0]!, full_name: "Codertocat/unreadable" }, ...installed.repositories];
    github.state.refs.set(`${REPO}@master`, SHA);
    expect(await deliver("installation", installed)).toBe(500);
    const setup = await until(async () => checkRuns().find((c) => c.name === "kto / setup"), "the setup check run");
    expect(setup).toMatchObject({
      head_sha: SHA,
      status: "completed",
      conclusion: "neutral",
      output: { title: "Add .github/workflows/kto-runner.yml and .github/kto.yml to run kto here" },
    });
    expect(setup.output.summary).toContain("commit these files to `master`");
    const text = (setup as unknown as { output: { text: string } }).output.text;
    const [workflow, starter] = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(workflow).toBe(await readFile(new URL("../../self-hosted/kto-runner.yml", import.meta.url), "utf8"));
    expect(() => parseConfig(starter!)).not.toThrow();
    // kto wrote nothing to the repository.
    expect(
      github.requests.filter((r) => r.method !== "GET" && r.operationId !== "checks/create" && r.operationId !== "apps/create-installation-access-token"),
    ).toEqual([]);
    expect(github.requests.some((r) => r.operationId === "actions/list-self-hosted-runners-for-repo")).toBe(true);

    // Installed again once the workflow is there: nothing more to show.
    github.state.files.set(`${REPO}@master:.github/workflows/kto-runner.yml`, "name: kto runner\n");
    expect(await deliver("installation", example("installation", "created", 1))).toBe(200);
    await untilSettled({ app, github });
    expect(checkRuns()).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("answers an invalid config with one failed kto / config check run pointing at the line", async () => {
    github.state.files.set(
      `${REPO}@${SHA}:.github/kto.yml`,
      "version: 1\nsuites:\n  - name: unit\n    runner: docker\n    image: x\n    command: y\n    timeout: soon\n",
    );
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const run = await until(async () => checkRuns()[0], "the config check run");
    expect(run).toMatchObject({ name: "kto / config", status: "completed", conclusion: "failure" });
    expect(run.output.annotations).toEqual([
      { path: ".github/kto.yml", start_line: 7, end_line: 7, annotation_level: "failure", title: "suites[0].timeout", message: "expected a duration like 20m" },
    ]);
    await untilSettled({ app, github });
    expect(checkRuns()).toHaveLength(1);
    expect(await app.store.jobsRepo.countsByState()).toMatchObject({ queued: 0, dispatched: 0 });
    expect(github.rejected).toEqual([]);
  });

  it("holds a fork's pull request until a maintainer comments /kto ok-to-test", async () => {
    const pr = example("pull_request", "opened") as {
      pull_request: { head: { repo: { full_name: string } }; author_association: string; number: number };
      installation?: unknown;
    };
    pr.pull_request.head.repo.full_name = "stranger/Hello-World";
    pr.pull_request.author_association = "CONTRIBUTOR";
    expect(await deliver("pull_request", pr)).toBe(200);
    // One check run asks for the plan's approval, however many jobs wait.
    await until(
      async () => checkRuns().length === 1 && checkRuns()[0]!.name === "kto / approval" && checkRuns()[0]!.conclusion === "action_required",
      "the action_required approval check run",
    );
    expect(checkRuns()[0]!.output.summary).toContain("it comes from the fork stranger/Hello-World");
    expect(github.state.dispatches).toHaveLength(0);

    github.state.pulls.set(`${REPO}#${pr.pull_request.number}`, { number: pr.pull_request.number, head: { sha: SHA } });
    const comment = example("issue_comment", "created") as {
      comment: { body: string; author_association: string; created_at: string };
      issue: { number: number; pull_request?: unknown };
      installation?: unknown;
    };
    comment.installation = (pr as { installation?: unknown }).installation;
    comment.comment.body = "/kto ok-to-test";
    comment.comment.author_association = "OWNER";
    // Written after kto held the commit: a comment approves only a head pushed before it.
    comment.comment.created_at = new Date().toISOString();
    comment.issue.number = pr.pull_request.number;
    comment.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${pr.pull_request.number}` };
    expect(await deliver("issue_comment", comment)).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the approved job dispatched");
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("approves a fork's pull request by label, and takes /kto retest and /kto cancel from maintainers only", async () => {
    const pr = example("pull_request", "opened") as {
      pull_request: { head: { repo: { full_name: string } }; author_association: string; number: number; labels: { name: string }[] };
      installation?: unknown;
      label?: unknown;
    };
    pr.pull_request.head.repo.full_name = "stranger/Hello-World";
    pr.pull_request.author_association = "NONE";
    expect(await deliver("pull_request", pr)).toBe(200);
    await until(async () => checkRuns().length === 1 && checkRuns()[0]!.conclusion === "action_required", "the held plan's approval check run");
    const labeled = structuredClone(pr) as typeof pr & { action: string };
    labeled.action = "labeled";
    labeled.label = { id: 1, name: "kto/ok-to-test", color: "00ff00", default: false, description: null, node_id: "x", url: "https://api.github.com/x" };
    expect(await deliver("pull_request", labeled)).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the labelled pull request dispatched");

    github.state.pulls.set(`${REPO}#${pr.pull_request.number}`, { number: pr.pull_request.number, head: { sha: SHA }, base: { ref: "master" } });
    github.state.permissions.set(REPO, new Map([["maintainer", "write"]]));
    // Whether a commenter is a maintainer is the API's answer (write access), not the comment's author_association.
    const comment = (body: string, login: string) => {
      const c = example("issue_comment", "created") as {
        comment: { body: string; created_at: string; user: { login: string } };
        issue: { number: number; pull_request?: unknown };
        installation?: unknown;
      };
      c.comment.body = body;
      c.comment.user.login = login;
      c.comment.created_at = new Date().toISOString();
      c.issue.number = pr.pull_request.number;
      c.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${pr.pull_request.number}` };
      c.installation = pr.installation;
      return c;
    };
    expect(await deliver("issue_comment", comment("/kto cancel", "passer-by"))).toBe(200);
    await untilSettled({ app, github });
    expect(github.state.cancelled).toEqual([]); // not a maintainer: nothing happens
    expect(await deliver("issue_comment", comment("/kto cancel", "maintainer"))).toBe(200);
    await until(async () => github.state.cancelled.length === 1, "the run cancelled");
    expect(await deliver("issue_comment", comment("/kto retest", "maintainer"))).toBe(200);
    await until(async () => github.state.dispatches.length === 2, "the retest dispatched");
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  });

  it("uses the organisation's runners too, and ends a repository's jobs when kto is uninstalled from it", async () => {
    github.state.runners.set(REPO, []);
    github.state.runners.set("org:Codertocat", [
      {
        id: 70,
        name: "org-rack",
        os: "linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", "x86_64", "kto-runner-org-rack"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
      },
    ]);
    // The runner is in the organisation's Default group, which keeps public repositories out: the repository is private.
    const opened = example("pull_request", "opened") as { installation: { id: number }; repository: { private: boolean } };
    opened.repository.private = true;
    expect(await deliver("pull_request", opened)).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "a dispatch to the organisation's runner");
    expect(JSON.parse(sent.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-org-rack"]);
    const removed = example("installation_repositories", "removed", 0) as { repositories_removed: { full_name: string }[]; installation: { id: number } };
    removed.repositories_removed = [{ ...removed.repositories_removed[0]!, full_name: REPO }];
    expect(await deliver("installation_repositories", removed)).toBe(200);
    await until(async () => (await app.store.jobsRepo.countsByState()).cancelled === 2, "both jobs cancelled");
    await until(async () => github.state.cancelled.length === 1, "the run cancelled");
    expect(github.state.cancelled).toEqual([sent.runId]);
    expect(github.rejected).toEqual([]);
  });

  it("finds the run by its run-name, GHES answering the dispatch without run details", async () => {
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    const job = JSON.parse(sent.inputs.job!) as { id: string };
    await until(async () => (await app.store.jobsRepo.job(job.id))?.runId === String(sent.runId), "the run id found by run-name");
    expect(github.requests.some((r) => r.operationId === "actions/list-workflow-runs")).toBe(true);
    expect(github.rejected).toEqual([]);
  });

  it("retries a dispatch GitHub answers with 502 and 429, and sends it once", async () => {
    github.state.dispatchFailures.push(502, 429);
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    await until(async () => github.state.dispatches.length === 1, "the dispatch to get through");
    const health = (await (await fetch(`${app.url}/kto/health`)).json()) as { github: string; ready: boolean };
    expect(health).toMatchObject({ github: "ok", ready: true });
    const metrics = await (await fetch(`${app.url}/kto/metrics`)).text();
    // The 502 failed; the 429 asked kto to wait, and so did looking for a run the 502 may have started: no failures.
    expect(metrics).toMatch(/^kto_outbox_delivery_failures_total 1$/m);
    expect(metrics).toMatch(/^kto_outbox_deferrals_total [1-9]\d*$/m);
    expect(metrics).toMatch(/^kto_jobs\{state="dispatched"\} 1$/m);
    // The job's wait in the queue was observed once, as it was dispatched: a histogram with its count and sum.
    expect(metrics).toMatch(/^# TYPE kto_queue_wait_seconds histogram$/m);
    expect(metrics).toMatch(/^kto_queue_wait_seconds_count 1$/m);
    expect(metrics).toMatch(/^kto_queue_wait_seconds_bucket\{le="\+Inf"\} 1$/m);
    expect(metrics).toMatch(/^kto_startup_seconds_count 0$/m);
    const calls = github.requests.filter((r) => r.operationId === "actions/create-workflow-dispatch");
    expect(calls).toHaveLength(3);
    await untilSettled({ app, github });
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("a dispatch that started its run but answered 502 is not sent again: the retry finds the run by its run-name", async () => {
    github.state.dispatchLostResponses.push(502);
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "the dispatch");
    const jobId = (JSON.parse(sent.inputs.job!) as { id: string }).id;
    await until(async () => (await app.store.jobsRepo.job(jobId))?.runId === String(sent.runId), "the run id found and stored");
    expect(github.requests.filter((r) => r.operationId === "actions/list-workflow-runs").length).toBeGreaterThanOrEqual(1);
    await untilSettled({ app, github });
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  type Dispatch = GitHubApiDouble["state"]["dispatches"][number];

  /** rack-1 goes offline with `first` on it and rack-2 comes online; GitHub ends the run, naming the runner it lost. */
  async function loseRunnerOf(first: Dispatch): Promise<void> {
    github.state.runners.set(REPO, [
      {
        id: 7,
        name: "rack-1",
        os: "linux",
        status: "offline",
        busy: false,
        labels: [
          { id: 1, name: "x86_64", type: "custom" },
          { id: 2, name: "kto-runner-rack-1", type: "custom" },
        ],
      },
      {
        id: 8,
        name: "rack-2",
        os: "linux",
        status: "online",
        busy: false,
        labels: [
          { id: 1, name: "x86_64", type: "custom" },
          { id: 3, name: "kto-runner-rack-2", type: "custom" },
        ],
      },
    ]);
    await deliverRunEnded(first.runId, JSON.parse(first.inputs.runs_on!) as string[]);
  }

  /** GitHub's workflow_job event for run `runId`, which asked for `runsOn`, ending on rack-1 without a report. */
  async function deliverRunEnded(runId: number, runsOn: string[]): Promise<void> {
    const wj = example("workflow_job", "completed", 0) as {
      workflow_job: Record<string, unknown>;
      repository: Record<string, unknown>;
      installation?: unknown;
    };
    wj.workflow_job = {
      ...wj.workflow_job,
      run_id: runId,
      conclusion: "failure",
      labels: runsOn,
      runner_id: 7,
      runner_name: "rack-1",
    };
    wj.repository = (example("pull_request", "opened") as { repository: Record<string, unknown> }).repository;
    wj.installation = { id: 1 };
    expect(await deliver("workflow_job", wj)).toBe(200);
  }

  /** The job of `first` runs again, as its next attempt, on rack-2; the lost run is cancelled. */
  async function expectRedispatchedAway(first: Dispatch): Promise<void> {
    // The retry waits out the first attempt's backoff (5 s) before it is dispatched.
    const second = await until(async () => github.state.dispatches[1], "a dispatch to the other runner", 15_000);
    expect(JSON.parse(second.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-rack-2"]);
    expect(JSON.parse(second.inputs.job!)).toMatchObject({ id: JSON.parse(first.inputs.job!).id, attempt: 2 });
    expect(github.state.cancelled).toContain(first.runId);
    await expectStatusMatchesStore();
    expect(github.rejected).toEqual([]);
  }

  /** The unit job dispatched to rack-1, its run not found: GHES answers without the run's id, and does not list the run yet when kto looks right after. */
  async function dispatchNotFoundYet(): Promise<{ first: Dispatch; jobId: string }> {
    github.state.unlistedFor = 1;
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const first = await until(async () => github.state.dispatches[0], "the first dispatch");
    const jobId = (JSON.parse(first.inputs.job!) as { id: string }).id;
    await until(async () => github.requests.some((r) => r.operationId === "actions/list-workflow-runs"), "the lookup after the dispatch");
    await untilSettled({ app, github });
    expect(await app.store.jobsRepo.job(jobId)).toMatchObject({ state: "dispatched", attempt: 1, runId: null });
    return { first, jobId };
  }

  it("gives a job back and dispatches it to another runner when its runner goes offline mid-job", async () => {
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const first = await until(async () => github.state.dispatches[0], "the first dispatch");
    const jobId = (JSON.parse(first.inputs.job!) as { id: string }).id;
    await until(async () => (await app.store.jobsRepo.job(jobId))?.runId === String(first.runId), "the run id found by run-name");
    await loseRunnerOf(first);
    await expectRedispatchedAway(first);
  });

  it("gives a job back at once when GitHub ends its run before kto has found that run by its run-name", async () => {
    const { first, jobId } = await dispatchNotFoundYet();
    await loseRunnerOf(first);
    // At once: not when the attempt's lease (two minutes) runs out.
    expect(await app.store.jobsRepo.job(jobId)).toMatchObject({
      state: "queued",
      attempt: 2,
      reason: expect.stringContaining("the workflow run ended (failure)"),
    });
    await expectRedispatchedAway(first);
  });

  it("leaves an attempt whose run kto has not found yet alone when another run on its runner ends", async () => {
    const { first, jobId } = await dispatchNotFoundYet();
    const lookups = () => github.requests.filter((r) => r.operationId === "actions/list-workflow-runs").length;
    const before = lookups();
    // A run kto's attempt was not dispatched as (an earlier attempt's, one someone else started) asked for the same runner.
    await deliverRunEnded(first.runId + 100, JSON.parse(first.inputs.runs_on!) as string[]);
    await untilSettled({ app, github });
    // kto looked the attempt's run up, and it was not that one.
    expect(lookups()).toBeGreaterThan(before);
    expect(await app.store.jobsRepo.job(jobId)).toMatchObject({ state: "dispatched", attempt: 1, runId: null });
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.state.cancelled).toEqual([]);
    expect(github.rejected).toEqual([]);
  });
});
