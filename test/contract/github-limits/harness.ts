import { expect } from "@jest/globals";
import type { RunningApp } from "../../../src/app/server.js";
import type { ManualClock } from "../../../src/orchestrator/clock.js";
import type { GitHubApiDouble, GitHubApiDoubleOptions } from "../../helpers/github-api-double.js";
import { jobReport } from "../../helpers/job-report.js";
import { PUBLIC_URL, startTestApp, type TestApp } from "../../helpers/test-app.js";
import { until } from "../../helpers/until.js";
import { example } from "../../helpers/webhook-examples.js";

/**
 * The App of the tests of GitHub's limits (test/contract/github-limits/), on the system
 * clock or a manual one, against a GitHub API double in real limits mode or not, with two
 * runners a test drives by hand.
 */

export const REPO = "Codertocat/Hello-World";
const INSTALLATION = 1;
export const CONFIG = `version: 1
suites:
  - { name: unit, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }
  - { name: board, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [arm64] } }
`;
export const shaOf = (n: number) => n.toString(16).padStart(40, "c");

/** Requests an installation made (not the App's own, with its JWT). */
const APP_OPERATIONS = new Set([
  "apps/create-installation-access-token",
  "apps/get-repo-installation",
  "apps/get-org-installation",
  "apps/get-authenticated",
  "apps/get-installation",
  "apps/list-webhook-deliveries",
  "apps/redeliver-webhook-delivery",
]);

type CheckRun = {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  external_id?: string;
  output: { title: string; summary: string };
};

/** The App in this process against the double, with a runner a test drives by hand. */
export class Harness {
  app!: RunningApp;
  github!: GitHubApiDouble;
  clock: ManualClock | null = null;
  private running!: TestApp;
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
    h.running = await startTestApp({
      double: { ...options.double, ...(options.clock ? { now: () => options.clock!.now() } : {}) },
      start: {
        ...(options.clock ? { clock: options.clock } : {}),
        runLookupDelayMs: 20,
        runLookupWindowMs: options.lookupWindowMs ?? 5_000,
        orchestrator: { outbox: { concurrency: 4, ...(options.outbox ?? { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 200 }) } },
      },
    });
    h.github = h.running.github;
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
    h.app = h.running.app;
    return h;
  }

  async close(): Promise<void> {
    await this.running?.close();
  }

  deliver(event: string, payload: unknown, id?: string): Promise<number> {
    return this.running.deliver(event, payload, id);
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
    const token = await this.running.issuer.token(REPO, String(runId), new URL(PUBLIC_URL).origin);
    return (await this.running.runEvent(jobId, token, body)).status;
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
          `${what}: ${this.github.requests.map((r) => r.operationId).join(",")} deferrals ${this.app.service.effectTotals().deferrals} failures ${this.app.service.effectTotals().failures} ${JSON.stringify(await this.app.store.jobs.countsByState())}\n`,
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
      await this.app.service.sendDue();
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
