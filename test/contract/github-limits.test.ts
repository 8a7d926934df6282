import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "@jest/globals";
import { sign } from "@octokit/webhooks-methods";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { GitHubRunnerPool } from "../../src/app/github-runner-pool.js";
import { startApp, WEBHOOKS_PATH, type RunningApp } from "../../src/app/server.js";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../src/orchestrator/job-lifecycle.js";
import { OutboxWorker } from "../../src/orchestrator/outbox-worker.js";
import { UNRESTRICTED } from "../../src/orchestrator/scope.js";
import type { JobRecord } from "../../src/orchestrator/store/store.js";
import { doubleAppSettings } from "../helpers/app-settings.js";
import { APP_BOT, startGitHubApiDouble, type GitHubApiDouble, type GitHubApiDoubleOptions, type GitHubState } from "../helpers/github-api-double.js";
import { jobReport } from "../helpers/job-report.js";
import { runnerRunClaims } from "../helpers/oidc-issuer.js";
import { RecordingDispatcher, storeJob } from "../helpers/orchestrator.js";
import { ENGINES, freshStore, withStore, submitPlan } from "../helpers/stores.js";
import { until, untilSettled } from "../helpers/until.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];
function example(event: string, action: string, index = 1): Record<string, unknown> {
  const found = examples.find((e) => e.name === event)!.examples.filter((e) => (e.action ?? "") === action);
  return structuredClone(found[Math.min(index, found.length - 1)]!);
}

const REPO = "Codertocat/Hello-World";
const INSTALLATION = 1;
const SECRET = "webhook-secret";
const ISSUER = "https://token.actions.example";
const PUBLIC_URL = "https://kto.example.com";
const CONFIG = `version: 1
suites:
  - { name: unit, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }
  - { name: board, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [arm64] } }
`;
const shaOf = (n: number) => n.toString(16).padStart(40, "c");

/** Requests an installation made (not the App's own, with its JWT). */
const APP_OPERATIONS = new Set(["apps/create-installation-access-token", "apps/get-repo-installation", "apps/get-org-installation", "apps/get-authenticated"]);

type CheckRun = {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  external_id?: string;
  output: { title: string; summary: string };
};

describe("the double in real limits mode answers as GitHub does", () => {
  let github: GitHubApiDouble;
  afterEach(async () => {
    await github?.close();
  });

  async function start(
    options: GitHubApiDoubleOptions,
  ): Promise<(method: string, path: string, body?: unknown) => Promise<{ status: number; headers: Headers; body: { message?: string } }>> {
    github = await startGitHubApiDouble(options);
    github.state.tokens.set("ghs_installation7", github.state.appPermissions);
    github.state.files.set(`${REPO}@main:.github/kto.yml`, CONFIG);
    return async (method, path, body) => {
      const response = await fetch(`${github.url}${path}`, {
        method,
        headers: { authorization: "token ghs_installation7", "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: response.status, headers: response.headers, body: (await response.json().catch(() => ({}))) as { message?: string } };
    };
  }
  const read = `/repos/${REPO}/contents/.github%2Fkto.yml?ref=main`;
  const checkRun = { name: "kto / unit", head_sha: shaOf(1) };

  it("counts the primary limit in x-ratelimit-* headers on every answer, and refuses the request past it until the reset", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const request = await start({ limits: { perHour: 3 }, now: () => clock.now() });
    const answers = [await request("GET", read), await request("GET", read), await request("GET", read)];
    expect(answers.map((a) => [a.status, a.headers.get("x-ratelimit-remaining"), a.headers.get("x-ratelimit-used")])).toEqual([
      [200, "2", "1"],
      [200, "1", "2"],
      [200, "0", "3"],
    ]);
    expect(answers[0]!.headers.get("x-ratelimit-limit")).toBe("3");
    expect(answers[0]!.headers.get("x-ratelimit-resource")).toBe("core");
    const reset = Number(answers[0]!.headers.get("x-ratelimit-reset"));
    expect(reset * 1000).toBeGreaterThan(clock.now());
    const refused = await request("GET", read);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^API rate limit exceeded for installation ID 7\./);
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(refused.headers.get("x-ratelimit-reset"))).toBe(reset);
    clock.advance(reset * 1000 - clock.now());
    expect((await request("GET", read)).status).toBe(200);
    expect(github.limiter!.stats.limited.primary).toBe(1);
    expect(github.limiter!.stats.whileAskedToWait).toBe(0);
  });

  it("charges a write 5 points and a read 1 against 900 a minute, and says when to come back", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const request = await start({ limits: { pointsPerMinute: 12 }, now: () => clock.now() });
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    clock.advance(10_000);
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    expect((await request("GET", read)).status).toBe(200);
    expect((await request("GET", read)).status).toBe(200);
    const refused = await request("GET", read);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/^You have exceeded a secondary rate limit/);
    // The first write's 5 points leave the minute 50 s from now.
    expect(refused.headers.get("retry-after")).toBe("50");
    expect(refused.headers.get("x-ratelimit-remaining")).not.toBe("0");
    clock.advance(10_000);
    await request("GET", read); // sent while asked to wait
    expect(github.limiter!.stats.whileAskedToWait).toBe(1);
    clock.advance(40_000);
    expect((await request("GET", read)).status).toBe(200);
  });

  it("limits content creation to 80 a minute and 500 an hour, and concurrent requests to 100", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const request = await start({ limits: { contentPerMinute: 2, contentPerHour: 3, concurrent: 2 }, latencyMs: 200, now: () => clock.now() });
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    const perMinute = await request("POST", `/repos/${REPO}/check-runs`, checkRun);
    expect([perMinute.status, perMinute.headers.get("retry-after")]).toEqual([403, "60"]);
    // An update creates nothing.
    expect((await request("PATCH", `/repos/${REPO}/check-runs/1000`, { status: "in_progress" })).status).toBe(200);
    clock.advance(61_000);
    expect((await request("POST", `/repos/${REPO}/check-runs`, checkRun)).status).toBe(201);
    clock.advance(61_000);
    const perHour = await request("POST", `/repos/${REPO}/check-runs`, checkRun);
    expect([perHour.status, perHour.headers.get("retry-after")]).toEqual([403, String(3_600 - 122)]);
    // Three at once against a limit of two: one is refused, with no retry-after (GitHub's "wait at least a minute").
    clock.advance(3_600_000);
    const together = await Promise.all([request("GET", read), request("GET", read), request("GET", read)]);
    expect(together.map((a) => a.status).sort()).toEqual([200, 200, 403]);
    expect(together.find((a) => a.status === 403)!.headers.get("retry-after")).toBeNull();
    expect(github.limiter!.stats.limited).toMatchObject({ contentPerMinute: 1, contentPerHour: 1, concurrent: 1 });
  });
});

describe.each(ENGINES)("the outbox on %s", (engine) => {
  it("sends a dispatch before the check runs decided before it, keeping each job's own effects in order", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const lifecycle = new JobLifecycle(store, clock, undefined, true);
      const calls: string[] = [];
      const dispatcher = new RecordingDispatcher();
      const reporter = { report: async (job: JobRecord) => void calls.push(`report ${job.id} (${job.state})`), reportPlan: async () => undefined };
      const recording = {
        dispatch: async (r: Parameters<RecordingDispatcher["dispatch"]>[0]) => (calls.push(`dispatch ${r.job.id}`), dispatcher.dispatch(r)),
        cancel: async (r: Parameters<RecordingDispatcher["cancel"]>[0]) => (calls.push(`cancel ${r.jobId}`), dispatcher.cancel(r)),
      };
      const outbox = new OutboxWorker(store, recording, lifecycle, clock, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, concurrency: 1 }, reporter);
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        approved: true,
        report: true,
        now: 1_000,
        jobs: Array.from({ length: 6 }, (_, i) => storeJob(`j${i}`, [], 2)),
      });
      await store.environmentsRepo.upsertEnvironments([
        { id: "e", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 1_000, scope: UNRESTRICTED },
      ]);
      await lifecycle.dispatch((await store.jobsRepo.job("j5"))!, "e");
      await outbox.deliver();
      // j5's check run is created first (its own earlier effect, shown as it is now), then its dispatch, then everyone else's check runs.
      expect(calls).toEqual([
        "report j5 (dispatched)",
        "dispatch j5",
        "report j0 (queued)",
        "report j1 (queued)",
        "report j2 (queued)",
        "report j3 (queued)",
        "report j4 (queued)",
      ]);
      // A cancel frees hardware: it goes before check runs decided earlier, and its job's conclusion right after it.
      calls.length = 0;
      await submitPlan(store, {
        id: "q",
        source: "s",
        workspace: "/w",
        approved: true,
        report: true,
        now: 1_000,
        jobs: Array.from({ length: 3 }, (_, i) => storeJob(`q${i}`, [], 2)),
      });
      await lifecycle.cancel((await store.jobsRepo.job("j5"))!, "superseded");
      await outbox.deliver();
      expect(calls).toEqual(["cancel j5", "report j5 (cancelled)", "report q0 (queued)", "report q1 (queued)", "report q2 (queued)"]);
    });
  });
});

describe.each(ENGINES)("the outbox on %s, where GitHub takes an installation's writes one at a time", (engine) => {
  it("sends an installation's effects one job at a time, so a dispatch queues behind one write, not one per worker", async () => {
    await withStore(engine, async (store) => {
      const clock = new ManualClock(1_000);
      const lifecycle = new JobLifecycle(store, clock, undefined, true);
      let inFlight = 0;
      let most = 0;
      const started: string[] = [];
      // Each call takes a while, as an installation's writes do behind GitHub's pacing.
      const slow = async (what: string) => {
        started.push(what);
        inFlight += 1;
        most = Math.max(most, inFlight);
        // While j0's check run is being created, a runner frees up for j3.
        if (what === "report j0") {
          await lifecycle.dispatch((await store.jobsRepo.job("j3"))!, "e2");
          void outbox.deliver();
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
      };
      const reporter = { report: async (job: JobRecord) => slow(`report ${job.id}`), reportPlan: async () => undefined };
      const dispatcher = { dispatch: async (r: { job: JobRecord }) => (await slow(`dispatch ${r.job.id}`), { runId: "1" }), cancel: async () => undefined };
      const outbox = new OutboxWorker(
        store,
        dispatcher,
        lifecycle,
        clock,
        { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10, concurrency: 4, lanesPerInstallation: 1 },
        reporter,
      );
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        installationId: 7,
        repo: "o/r",
        headSha: shaOf(1),
        approved: true,
        report: true,
        now: 1_000,
        jobs: Array.from({ length: 8 }, (_, i) => storeJob(`j${i}`, [], 2)),
      });
      await store.environmentsRepo.upsertEnvironments(
        ["e", "e2"].map((id) => ({ id, pool: "static", labels: [], capacity: 1, state: "online" as const, lastSeen: 1_000, scope: UNRESTRICTED })),
      );
      await lifecycle.dispatch((await store.jobsRepo.job("j7"))!, "e");
      await outbox.deliver();
      await until(() => started.length === 10, "every effect delivered");
      expect(most).toBe(1);
      // j7's check run (its own earlier effect) and dispatch, then the others' check runs,
      // but j3's go next once it is dispatched.
      expect(started).toEqual([
        "report j7",
        "dispatch j7",
        "report j0",
        "report j3",
        "dispatch j3",
        "report j1",
        "report j2",
        "report j4",
        "report j5",
        "report j6",
      ]);
    });
  });
});

describe("the runner pool between listings", () => {
  it("lists every other repository's runners when GitHub will not list one, and forgets one that is gone", async () => {
    await withStore("sqlite", async (store) => {
      const runner = { id: 5, name: "r5", status: "online", busy: false, labels: [{ name: "x86_64" }, { name: "kto-runner-r5" }] };
      const refused = (status: number, message: string) => Promise.reject(Object.assign(new Error(message), { status }));
      const listRepo = async ({ repo }: { repo: string }) =>
        repo === "gone" ? refused(404, "Not Found") : repo === "odd name" ? refused(422, "Validation Failed") : [runner];
      const octokit = {
        paginate: (list: (p: unknown) => Promise<unknown>, params: unknown) => list(params),
        rest: { actions: { listSelfHostedRunnersForRepo: listRepo, listSelfHostedRunnersForOrg: async () => refused(404, "Not Found") } },
      };
      const pool = new GitHubRunnerPool(
        store,
        async () => octokit as never,
        () => 1_000,
      );
      for (const repo of ["o/gone", "o/odd name", "o/r"]) pool.track(repo, 7);
      expect((await pool.list()).map((e) => e.id)).toEqual(["github:o/r:5"]);
      // The one that is gone is no longer asked for; the others still are.
      expect(pool.track("o/gone", 7)).toBe(true);
      expect(pool.track("o/odd name", 7)).toBe(false);
    });
  });

  it("keeps a just-registered runner while it connects, and lets it go once it started a job and went offline", async () => {
    await withStore("sqlite", async (store) => {
      let runners = [{ id: 5, name: "r5", status: "offline", busy: false, labels: [{ name: "x86_64" }, { name: "kto-runner-r5" }] }];
      const listRepo = async () => runners;
      const listOrg = async () => Promise.reject(Object.assign(new Error("Not Found"), { status: 404 }));
      const octokit = {
        paginate: (list: () => Promise<unknown>) => list(),
        rest: { actions: { listSelfHostedRunnersForRepo: listRepo, listSelfHostedRunnersForOrg: listOrg } },
      };
      const pool = new GitHubRunnerPool(
        store,
        async () => octokit as never,
        () => 1_000,
      );
      pool.track("o/r", 7);
      await pool.registered("o/r", { id: 5, name: "r5", labels: runners[0]!.labels }, 7);
      // GitHub lists a just-in-time runner offline until its process connects.
      expect((await pool.list()).map((e) => e.id)).toEqual(["github:o/r:5"]);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1_000, jobs: [storeJob("j", [], 2)] });
      await store.transition({ jobId: "j", to: "dispatched", set: { env_id: "github:o/r:5" }, now: 1_000 });
      await store.transition({ jobId: "j", to: "running", now: 1_000 });
      runners = [{ ...runners[0]!, status: "offline", busy: true }];
      // It ran the job, so it had connected: offline now, its host is gone.
      expect(await pool.list()).toEqual([]);
    });
  });
});

/** The App in this process against the double, with a runner a test drives by hand. */
class Harness {
  app!: RunningApp;
  github!: GitHubApiDouble;
  clock: ManualClock | null = null;
  private dispose: () => Promise<void> = async () => undefined;
  private jwks!: Server;
  private key!: CryptoKey;
  private cursor = 0;

  static async start(
    options: {
      clock?: ManualClock;
      double?: GitHubApiDoubleOptions;
      outbox?: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
      lookupWindowMs?: number;
    } = {},
  ): Promise<Harness> {
    const h = new Harness();
    h.clock = options.clock ?? null;
    h.github = await startGitHubApiDouble({ ...options.double, ...(options.clock ? { now: () => options.clock!.now() } : {}) });
    h.github.state.runners.set(REPO, [
      {
        id: 7,
        name: "rack-1",
        os: "linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", "x86_64", "kto-runner-rack-1"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
      },
      {
        id: 8,
        name: "board-1",
        os: "linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", "arm64", "kto-runner-board-1"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
      },
    ]);
    const pair = await generateKeyPair("RS256");
    h.key = pair.privateKey as CryptoKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    h.jwks = createServer((_, response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => h.jwks.listen(0, "127.0.0.1", resolve));
    const fresh = await freshStore("sqlite");
    h.dispose = fresh.dispose;
    const settings = doubleAppSettings(h.github.url, {
      WEBHOOK_SECRET: SECRET,
      KTO_PUBLIC_URL: PUBLIC_URL,
      KTO_OIDC_ISSUER: ISSUER,
      KTO_OIDC_JWKS_URL: `http://127.0.0.1:${(h.jwks.address() as AddressInfo).port}/jwks`,
    });
    h.app = await startApp(settings, {
      store: fresh.store,
      ...(options.clock ? { clock: options.clock } : {}),
      logLevel: "fatal",
      throttle: false,
      runLookupDelayMs: 20,
      runLookupWindowMs: options.lookupWindowMs ?? 5_000,
      orchestrator: {
        pollMs: 100,
        outboxPollMs: 100,
        lockTtlMs: 2_000,
        outbox: { concurrency: 4, ...(options.outbox ?? { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 200 }) },
      },
    });
    return h;
  }

  async close(): Promise<void> {
    await this.app?.close();
    await this.dispose();
    await this.github?.close();
    await new Promise((resolve) => this.jwks?.close(resolve));
  }

  async deliver(event: string, payload: unknown, id: string = randomUUID()): Promise<number> {
    const body = JSON.stringify(payload);
    const response = await fetch(`${this.app.url}${WEBHOOKS_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": id, "x-hub-signature-256": await sign(SECRET, body) },
      body,
    });
    return response.status;
  }

  pullRequest(number: number, sha: string, options: { fork?: boolean } = {}): Record<string, unknown> {
    this.github.state.files.set(`${REPO}@${sha}:.github/kto.yml`, CONFIG);
    const payload = example("pull_request", "opened") as {
      number: number;
      pull_request: { number: number; head: { sha: string; repo: { full_name: string } }; author_association: string };
    };
    payload.number = number;
    payload.pull_request.number = number;
    payload.pull_request.head.sha = sha;
    if (options.fork) {
      payload.pull_request.head.repo.full_name = "stranger/Hello-World";
      payload.pull_request.author_association = "NONE";
    }
    return payload;
  }

  /** A workflow_job event as GitHub sends it for a job on a runner. */
  workflowJob(
    action: "queued" | "in_progress" | "completed",
    job: { runId: number; labels: string[]; runnerId?: number; runnerName?: string; conclusion?: string },
  ): Record<string, unknown> {
    const base = example("workflow_job", action, 0) as { workflow_job: Record<string, unknown> };
    const repository = (example("pull_request", "opened") as { repository: unknown }).repository;
    return {
      ...base,
      workflow_job: {
        ...base.workflow_job,
        id: job.runId * 10,
        run_id: job.runId,
        status: action,
        conclusion: job.conclusion ?? null,
        labels: job.labels,
        runner_id: job.runnerId ?? null,
        runner_name: job.runnerName ?? null,
      },
      repository,
      installation: { id: INSTALLATION },
    };
  }

  async report(jobId: string, runId: number, body: Record<string, unknown>): Promise<number> {
    const token = await new SignJWT(runnerRunClaims(REPO, String(runId)))
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer(ISSUER)
      .setAudience(new URL(PUBLIC_URL).origin)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(this.key);
    const response = await fetch(`${this.app.url}/kto/api/jobs/${encodeURIComponent(jobId)}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return response.status;
  }

  /**
   * Runs every dispatch sent so far as GitHub and its runner would: workflow_job events
   * (queued, in progress on the runner, completed), with another workflow's jobs among
   * them, and the action's started and finished reports.
   */
  async runDispatched(options: { webhooks: boolean }): Promise<number> {
    const runners = this.github.state.runners.get(REPO)!;
    let ran = 0;
    for (; this.cursor < this.github.state.dispatches.length; this.cursor++) {
      const dispatch = this.github.state.dispatches[this.cursor]!;
      if (!dispatch.inputs.runs_on) continue;
      const labels = JSON.parse(dispatch.inputs.runs_on) as string[];
      const runner = runners.find((r) => labels.every((l) => r.labels.some((x) => x.name === l)))!;
      const job = JSON.parse(dispatch.inputs.job!) as { id: string; attempt: number };
      const other = { runId: 90_000 + this.cursor, labels: ["ubuntu-latest"], runnerId: 5, runnerName: "GitHub Actions 5" };
      if (options.webhooks) {
        expect(await this.deliver("workflow_job", this.workflowJob("queued", { runId: dispatch.runId, labels }))).toBe(200);
        expect(await this.deliver("workflow_job", this.workflowJob("queued", other))).toBe(200);
        expect(
          await this.deliver("workflow_job", this.workflowJob("in_progress", { runId: dispatch.runId, labels, runnerId: runner.id, runnerName: runner.name })),
        ).toBe(200);
        expect(await this.deliver("workflow_job", this.workflowJob("in_progress", other))).toBe(200);
      }
      expect(await this.report(job.id, dispatch.runId, { attempt: job.attempt, kind: "started" })).toBe(200);
      // Seen running before it finishes, as a job that takes a while is.
      await this.until(() => this.checkRuns().find((c) => c.external_id === job.id)?.status === "in_progress", `${job.id} shown running`);
      expect(
        await this.report(job.id, dispatch.runId, { attempt: job.attempt, kind: "finished", status: "succeeded", result: jobReport(job.id, "succeeded") }),
      ).toBe(200);
      if (options.webhooks) {
        expect(
          await this.deliver(
            "workflow_job",
            this.workflowJob("completed", { runId: dispatch.runId, labels, runnerId: runner.id, runnerName: runner.name, conclusion: "success" }),
          ),
        ).toBe(200);
        expect(await this.deliver("workflow_job", this.workflowJob("completed", { ...other, conclusion: "success" }))).toBe(200);
      }
      ran += 1;
    }
    return ran;
  }

  /**
   * Waits for `condition`, moving the App's manual clock (if it has one) `stepMs` at a
   * time, running what was dispatched meanwhile when `run` says so.
   */
  async until<T>(condition: () => T | Promise<T>, what: string, options: { stepMs?: number; run?: boolean } = {}): Promise<NonNullable<T>> {
    return until(async () => {
      if (options.run) await this.runDispatched({ webhooks: false });
      const value = await condition();
      if (value) return value as NonNullable<T>;
      if (process.env.DEBUG_LIMITS)
        process.stderr.write(
          `${what}: ${this.github.requests.map((r) => r.operationId).join(",")} deferrals ${this.app.service.deliveryTotals().deferrals} failures ${this.app.service.deliveryTotals().failures} ${JSON.stringify(await this.app.store.jobsRepo.countsByState())}\n`,
        );
      this.clock?.advance(options.stepMs ?? 100);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return null;
    }, what);
  }

  /** Moves the manual clock `ms`, `stepMs` at a time, letting the App act at each step. */
  async pass(ms: number, stepMs = 1_000): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock!.advance(Math.min(stepMs, ms - t));
      await this.app.service.deliverDue();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  checkRuns(sha?: string): CheckRun[] {
    return ([...this.github.state.checkRuns.values()] as unknown as CheckRun[]).filter((c) => !sha || c.head_sha === sha);
  }

  /** Requests of the installation (not the App's JWT ones) since `from`. */
  installationRequests(from = 0): string[] {
    return this.github.requests
      .slice(from)
      .map((r) => r.operationId)
      .filter((op) => !APP_OPERATIONS.has(op));
  }

  count(operationId: string): number {
    return this.github.requests.filter((r) => r.operationId === operationId).length;
  }

  async health(): Promise<Record<string, unknown>> {
    return (await (await fetch(`${this.app.url}/kto/health`)).json()) as Record<string, unknown>;
  }
}

describe("kto within GitHub's budget", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("reads the config once per event, makes at most 4 writes per job, and lists no runners per job", async () => {
    h = await Harness.start();
    const events = 3;
    let listingsBefore = -1;
    for (let n = 1; n <= events; n++) {
      expect(await h.deliver("pull_request", h.pullRequest(n, shaOf(n)))).toBe(200);
      // The first event brings the repository's runners in; after that the pool lives on events.
      if (n === 1) {
        await until(() => h.github.state.dispatches.length > 0, "the first dispatch");
        listingsBefore = h.count("actions/list-self-hosted-runners-for-repo") + h.count("actions/list-self-hosted-runners-for-org");
      }
      for (;;) {
        await h.runDispatched({ webhooks: true });
        if (h.checkRuns(shaOf(n)).length === 2 && h.checkRuns(shaOf(n)).every((c) => c.status === "completed")) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const jobs = events * 2;
    const writes = h.count("checks/create") + h.count("checks/update") + h.count("actions/create-workflow-dispatch") + h.count("actions/cancel-workflow-run");
    expect({
      writesPerJob: writes / jobs,
      configReads: h.count("repos/get-content"),
      runnerListings: h.count("actions/list-self-hosted-runners-for-repo") + h.count("actions/list-self-hosted-runners-for-org"),
    }).toEqual({
      writesPerJob: 4,
      // One read of each head's config, and one of the base's policy for all three.
      configReads: events + 1,
      runnerListings: listingsBefore,
    });
    expect(h.github.rejected).toEqual([]);
  }, 60_000);
});

describe("kto under GitHub's rate limits", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  /** Until the injected limit has been answered and the outbox has put an effect off for it. */
  const untilHeldBack = () =>
    h.until(
      () => h.github.state.failures.get("checks/create")!.length === 0 && h.app.service.deliveryTotals().deferrals >= 1,
      "the limit answered and an effect held back",
      {
        stepMs: 0,
      },
    );

  async function opened(n = 1): Promise<number> {
    expect(await h.deliver("pull_request", h.pullRequest(n, shaOf(n)))).toBe(200);
    return h.github.requests.length;
  }

  it("after a secondary limit, sends nothing for the installation for at least 60 s, whatever retry-after says, then carries on", async () => {
    h = await Harness.start({ clock: new ManualClock(Date.now()) });
    h.github.state.failures.set("checks/create", [{ limit: "secondary", retryAfterS: 5 }]);
    await opened();
    // Requests already on their way when the answer came are GitHub's to count; none goes after it.
    await untilHeldBack();
    const refusedAt = h.github.requests.length;
    // A minute of polls, less a second: the queue dispatches, the outbox tries, nothing goes to GitHub.
    await h.pass(59_000);
    expect(h.installationRequests(refusedAt)).toEqual([]);
    expect(await h.health()).toMatchObject({ githubRateLimited: 1, ready: true });
    await h.until(() => h.checkRuns().length === 2 && h.github.state.dispatches.length === 2, "the check runs and dispatches after the pause", { stepMs: 500 });
    expect(h.github.rejected).toEqual([]);
  });

  it("after the primary limit, waits for x-ratelimit-reset", async () => {
    h = await Harness.start({ clock: new ManualClock(Date.now()) });
    h.github.state.failures.set("checks/create", [{ limit: "primary", status: 429, resetInS: 120 }]);
    await opened();
    await untilHeldBack();
    const refusedAt = h.github.requests.length;
    await h.pass(119_000);
    expect(h.installationRequests(refusedAt)).toEqual([]);
    await h.until(() => h.checkRuns().length === 2, "the check runs after the reset", { stepMs: 500 });
  });

  it("stops at the answer that leaves no requests, and never gets the primary limit's 403", async () => {
    const clock = new ManualClock(Date.now());
    // The base's and the head's config and the two runner listings use up the hour.
    h = await Harness.start({ clock, double: { limits: { perHour: 4 } } });
    await opened();
    await h.pass(10 * 60_000, 10_000);
    expect(h.installationRequests()).toEqual([
      "repos/get-content",
      "repos/get-content",
      "actions/list-self-hosted-runners-for-repo",
      "actions/list-self-hosted-runners-for-org",
    ]);
    expect(h.github.limiter!.stats.limited.primary).toBe(0);
    await h.pass(60 * 60_000, 60_000);
    await h.until(() => h.checkRuns().length === 2, "the check runs in the next hour", { stepMs: 500 });
  });

  it("does not retry an answer that cannot change (a 4xx): the dispatch fails its attempt at once", async () => {
    h = await Harness.start();
    h.github.state.failures.set("actions/create-workflow-dispatch", [404]);
    await opened();
    const job = await until(async () => (await h.app.store.jobsRepo.jobs()).find((j) => j.attempt === 2), "the attempt failed and the job queued again");
    const firstAttempt = h.github.requests.filter(
      (r) => r.operationId === "actions/create-workflow-dispatch" && JSON.parse(String((r.body.inputs as Record<string, string>).job)).id === job.id,
    );
    expect(firstAttempt).toHaveLength(1);
  });

  it("never gives up a finished job's last check run update, and shows the backlog in /kto/health and the metrics", async () => {
    h = await Harness.start({ clock: new ManualClock(Date.now()), outbox: { maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 8_000 } });
    await opened();
    const dispatch = await h.until(() => h.github.state.dispatches[0], "a dispatch");
    const job = JSON.parse(dispatch.inputs.job!) as { id: string };
    expect(await h.report(job.id, dispatch.runId, { attempt: 1, kind: "started" })).toBe(200);
    await h.until(() => h.checkRuns().find((c) => c.external_id === job.id)?.status === "in_progress", "the job shown running");
    // GitHub fails more updates in a row than the outbox tries anything else.
    h.github.state.failures.set("checks/update", Array<number>(8).fill(502));
    expect(await h.report(job.id, dispatch.runId, { attempt: 1, kind: "finished", status: "succeeded", result: jobReport(job.id, "succeeded") })).toBe(200);
    await h.until(() => (h.github.state.failures.get("checks/update")?.length ?? 0) < 8, "the first update failed", { stepMs: 0 });
    h.clock!.advance(30_000);
    expect(await h.health()).toMatchObject({ finalCheckRunsPending: 1 });
    expect((await h.health()).finalCheckRunsOldestMs).toBeGreaterThanOrEqual(30_000);
    const metrics = await (await fetch(`${h.app.url}/kto/metrics`)).text();
    expect(metrics).toMatch(/^kto_final_check_runs_pending 1$/m);
    expect(Number(/^kto_final_check_runs_oldest_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(30);
    await h.until(() => h.checkRuns().find((c) => c.external_id === job.id)?.status === "completed", "the last update landed", { stepMs: 1_000 });
    expect(h.github.state.failures.get("checks/update")).toEqual([]);
    expect(await h.health()).toMatchObject({ finalCheckRunsPending: 0, finalCheckRunsOldestMs: null });
  });
});

describe("kto's webhooks survive GitHub's failures", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("retries a read that failed: one 502 reading the config does not lose the run", async () => {
    h = await Harness.start();
    h.github.state.failures.set("repos/get-content", [502]);
    expect(await h.deliver("pull_request", h.pullRequest(1, shaOf(1)))).toBe(200);
    await until(() => h.checkRuns(shaOf(1)).length === 2, "the pull request's check runs");
  });

  it("handles a redelivery of a delivery that failed, and only once one that got through", async () => {
    h = await Harness.start();
    h.github.state.failures.set("repos/get-content", Array<number>(10).fill(502));
    const payload = h.pullRequest(1, shaOf(1));
    expect(await h.deliver("pull_request", payload, "delivery-1")).toBeGreaterThanOrEqual(500);
    expect(await h.app.store.plans.planIds()).toEqual([]);
    h.github.state.failures.delete("repos/get-content");
    // Redelivered from the App's settings, with the same delivery id.
    expect(await h.deliver("pull_request", payload, "delivery-1")).toBe(200);
    expect(await h.app.store.plans.planIds()).toHaveLength(1);
    expect(await h.deliver("pull_request", payload, "delivery-1")).toBe(200);
    expect(await h.app.store.plans.planIds()).toHaveLength(1);
  });
});

describe("kto finds the run a lost dispatch answer started, and only its own", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  /** Starts a run of the runner workflow as someone else, or as the App for another job. */
  function otherRun(like: GitHubState["dispatches"][number], job: string, actor: string, createdAt: number): void {
    h.github.state.dispatches.push({ ...like, inputs: { job: JSON.stringify({ id: job, attempt: 1 }) }, runId: h.github.state.nextId++, actor, createdAt });
  }

  async function dispatchedOnce(): Promise<{ jobId: string; runId: number }> {
    const jobs = await until(async () => {
      const all = await h.app.store.jobsRepo.jobs();
      return all.length === 2 && all.every((j) => j.state === "dispatched" && j.runId && /^\d+$/.test(j.runId)) && all;
    }, "both jobs bound to their runs");
    // Dispatched once each, with nothing left that could dispatch them again.
    await untilSettled(h);
    const attempts = h.github.state.dispatches.filter((d) => d.inputs.runs_on).map((d) => JSON.parse(d.inputs.job!) as { id: string; attempt: number });
    expect(attempts.map((a) => `${a.id}#${a.attempt}`).sort()).toEqual(jobs.map((j) => `${j.id}#1`).sort());
    const first = h.github.state.dispatches.find((d) => d.inputs.runs_on)!;
    return { jobId: (JSON.parse(first.inputs.job!) as { id: string }).id, runId: first.runId };
  }

  it("pages through the runs listed after it", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = (d) => {
      if (once) return;
      once = true;
      for (let i = 0; i < 120; i++) otherRun(d, `Codertocat/Hello-World@other/${i}`, APP_BOT, Date.now() + 3_600_000);
    };
    await openPullRequest(h);
    const { jobId, runId } = await dispatchedOnce();
    expect((await h.app.store.jobsRepo.job(jobId))?.runId).toBe(String(runId));
  });

  it("looks again while GitHub does not list the run yet, rather than dispatching again", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = (d) => {
      if (once) return;
      once = true;
      d.unlistedFor = 3;
    };
    await openPullRequest(h);
    await dispatchedOnce();
  });

  it("takes the App's run, not a later one someone else started with the same run-name", async () => {
    h = await Harness.start();
    h.github.state.dispatchLostResponses.push(502);
    let once = false;
    h.github.state.onDispatch = (d) => {
      if (once) return;
      once = true;
      otherRun(d, (JSON.parse(d.inputs.job!) as { id: string }).id, "mallory", Date.now() + 1_000);
    };
    await openPullRequest(h);
    const { jobId, runId } = await dispatchedOnce();
    expect((await h.app.store.jobsRepo.job(jobId))?.runId).toBe(String(runId));
  });
});

describe("a plan waiting for approval", () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it("is one check run listing its jobs; approved, each job gets a check run of its own", async () => {
    h = await Harness.start();
    const pr = h.pullRequest(1, shaOf(1), { fork: true });
    expect(await h.deliver("pull_request", pr)).toBe(200);
    const approval = await until(() => h.checkRuns().find((c) => c.name === "kto / approval"), "the approval check run");
    await untilSettled(h);
    expect(h.checkRuns()).toHaveLength(1);
    expect(approval).toMatchObject({ status: "completed", conclusion: "action_required", head_sha: shaOf(1) });
    expect(approval.output.summary).toContain("`kto / unit`");
    expect(approval.output.summary).toContain("`kto / board`");
    const labeled = {
      ...structuredClone(pr),
      action: "labeled",
      label: { id: 1, name: "kto/ok-to-test", color: "00ff00", default: false, description: null, node_id: "x", url: "https://api.github.com/x" },
    };
    expect(await h.deliver("pull_request", labeled)).toBe(200);
    await until(() => h.checkRuns().filter((c) => c.name !== "kto / approval").length === 2, "a check run per approved job");
    await until(() => h.checkRuns().find((c) => c.name === "kto / approval")?.conclusion === "success", "the approval check run approved");
    expect(h.checkRuns()).toHaveLength(3);
    expect(h.github.rejected).toEqual([]);
  });
});

async function openPullRequest(h: Harness): Promise<void> {
  expect(await h.deliver("pull_request", h.pullRequest(1, shaOf(1)))).toBe(200);
}
