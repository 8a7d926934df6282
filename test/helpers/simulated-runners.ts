import { workflowJobDelivery, workflowJobId } from "./workflow-job-ids.js";
import { createRequire } from "node:module";
import { jobReport } from "./job-report.js";
import type { GitHubApiDouble, Runner } from "./github-api-double.js";
import { INSTALLATION_ID, LOCAL_REPO, type LocalSystem } from "./local-system.js";
import type { OidcIssuer } from "./oidc-issuer.js";

export interface SimulatedRunnersOptions {
  github: GitHubApiDouble;
  issuer: OidcIssuer;
  repo: string;
  appUrl: string;
  /** The audience the App expects: its public origin. */
  audience: string;
  installationId: number;
  /** How long a job "runs" before it reports finished. */
  runMs: (jobId: string) => number;
  /** What a job's finished report says. */
  status: (jobId: string) => "succeeded" | "failed";
  /**
   * Sends GitHub's workflow_job events for each run (in progress on its runner, completed),
   * and as many of another workflow's jobs on GitHub's own runners, as a busy repository has.
   */
  webhook?: (event: string, payload: Record<string, unknown>, id: string) => Promise<unknown>;
}

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

/**
 * Runners for load tests: registered in the GitHub double with their labels, they take
 * each workflow dispatch meant for them and speak the action's real protocol to the App
 * (OIDC-authenticated started and finished reports) without running anything. The real
 * runners are exercised end to end elsewhere; here the App and orchestrator are under load.
 */
export class SimulatedRunners {
  readonly runs: { runId: number; jobId: string; attempt: number; runner: string; startedAt: number; finishedAt?: number }[] = [];
  readonly reportFailures: string[] = [];
  private cursor = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: SimulatedRunnersOptions) {}

  /** Runners for the local system's repository, reporting to its App and sending its webhooks. */
  static for(system: LocalSystem, behaviour: Pick<SimulatedRunnersOptions, "runMs" | "status">): SimulatedRunners {
    return new SimulatedRunners({
      github: system.github,
      issuer: system.issuer,
      repo: LOCAL_REPO,
      appUrl: system.appUrl,
      audience: system.appUrl,
      installationId: INSTALLATION_ID,
      webhook: (event, payload, id) => system.deliver(event, payload, id),
      ...behaviour,
    });
  }

  /** Adds `count` online runners carrying `labels` and a unique kto-runner label each. */
  add(count: number, labels: string[], prefix: string): void {
    const list = this.options.github.state.runners.get(this.options.repo) ?? [];
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${i + 1}`;
      const runner: Runner = {
        id: this.options.github.state.nextId++,
        name,
        os: "Linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", ...labels, `kto-runner-${name}`].map((label, n) => ({ id: n + 1, name: label, type: "custom" as const })),
      };
      list.push(runner);
    }
    this.options.github.state.runners.set(this.options.repo, list);
  }

  start(): void {
    this.timer = setInterval(() => this.poll(), 20);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.all([...this.pending]);
  }

  private poll(): void {
    const { dispatches, runners } = this.options.github.state;
    const mine = runners.get(this.options.repo) ?? [];
    for (; this.cursor < dispatches.length; this.cursor++) {
      const dispatch = dispatches[this.cursor]!;
      const wanted = JSON.parse(dispatch.inputs.runs_on ?? "[]") as string[];
      const runner = mine.find((r) => wanted.every((label) => r.labels.some((l) => l.name === label)));
      if (!runner) continue;
      const job = JSON.parse(dispatch.inputs.job ?? "{}") as { id: string; attempt: number };
      const work = this.run(runner, dispatch.runId, job).finally(() => this.pending.delete(work));
      this.pending.add(work);
    }
  }

  private async run(runner: Runner, runId: number, job: { id: string; attempt: number }): Promise<void> {
    runner.busy = true;
    const record: (typeof this.runs)[number] = { runId, jobId: job.id, attempt: job.attempt, runner: runner.name, startedAt: Date.now() };
    this.runs.push(record);
    const token = await this.options.issuer.token(this.options.repo, String(runId), this.options.audience);
    const labels = ["self-hosted", runner.labels.find((l) => l.name.startsWith("kto-runner-"))!.name];
    await this.workflowJob("in_progress", { runId, labels, runnerId: runner.id, runnerName: runner.name });
    await this.workflowJob("in_progress", { runId: runId + 1_000_000, labels: ["ubuntu-latest"], runnerId: 1, runnerName: "GitHub Actions 1" });
    await this.report(job, token, { kind: "started" });
    await new Promise((resolve) => setTimeout(resolve, this.options.runMs(job.id)));
    const status = this.options.status(job.id);
    record.finishedAt = Date.now();
    runner.busy = false;
    await this.report(job, token, { kind: "finished", status, result: jobReport(job.id, status) });
    await this.workflowJob("completed", {
      runId,
      labels,
      runnerId: runner.id,
      runnerName: runner.name,
      conclusion: status === "succeeded" ? "success" : "failure",
    });
    await this.workflowJob("completed", {
      runId: runId + 1_000_000,
      labels: ["ubuntu-latest"],
      runnerId: 1,
      runnerName: "GitHub Actions 1",
      conclusion: "success",
    });
  }

  private async workflowJob(
    action: "in_progress" | "completed",
    job: { runId: number; labels: string[]; runnerId: number; runnerName: string; conclusion?: string },
  ): Promise<void> {
    if (!this.options.webhook) return;
    const base = structuredClone(examples.find((e) => e.name === "workflow_job")!.examples.find((e) => e.action === action)!) as Record<string, unknown> & {
      workflow_job: Record<string, unknown>;
      repository: Record<string, unknown> & { owner: Record<string, unknown> };
    };
    const [owner, name] = this.options.repo.split("/");
    const payload = {
      ...base,
      workflow_job: {
        ...base.workflow_job,
        id: workflowJobId(job.runId, job.runnerId),
        run_id: job.runId,
        status: action,
        conclusion: job.conclusion ?? null,
        runner_id: job.runnerId,
        runner_name: job.runnerName,
        labels: job.labels,
      },
      repository: { ...base.repository, full_name: this.options.repo, name, owner: { ...base.repository.owner, login: owner } },
      installation: { id: this.options.installationId },
    };
    await this.options.webhook("workflow_job", payload, workflowJobDelivery(job.runId, job.runnerId, action));
  }

  private async report(job: { id: string; attempt: number }, token: string, body: Record<string, unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const status = await fetch(`${this.options.appUrl}/kto/api/jobs/${encodeURIComponent(job.id)}/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ attempt: job.attempt, ...body }),
      }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return;
      if (attempt === 5) {
        this.reportFailures.push(`${job.id}#${job.attempt} ${String(body.kind)}: ${status}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}
