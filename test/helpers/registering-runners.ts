import { workflowJobDelivery, workflowJobId } from "./workflow-job-ids.js";
import { createRequire } from "node:module";
import { jobReport } from "./job-report.js";
import type { GitHubApiDouble } from "./github-api-double.js";
import { configureRunner } from "./github-double/registration-tokens.js";
import type { OidcIssuer } from "./oidc-issuer.js";

export interface RegisteringRunnersOptions {
  github: GitHubApiDouble;
  issuer: OidcIssuer;
  repo: string;
  installationId: number;
  appUrl: string;
  /** The audience the App expects: its public origin. */
  audience: string;
  registrationSecret: string;
  /** Runners at once, each registering anew for every job. */
  slots: number;
  /**
   * How each registers: "token" as the host script does by default (a registration token
   * from the App, config.sh with it, the runner's id reported back), or "jit" (a
   * just-in-time config from the App, KTO_RUNNER_REGISTRATION=jit).
   */
  registration?: "token" | "jit";
  labels: string[];
  runMs: number;
  status: (jobName: string) => "succeeded" | "failed";
  /** GitHub's workflow_job events, which tell the App an ephemeral runner took its job and is gone. */
  webhook: (event: string, payload: Record<string, unknown>, id: string) => Promise<unknown>;
}

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

/**
 * Runner hosts as self-hosted/kto-runner-host.sh runs them: each slot registers an
 * ephemeral runner through the App's registration routes (as `kto host register` does),
 * takes the one job dispatched to it, reports it as the action does, leaves, and
 * registers again. What the App spends on GitHub for registrations is then counted with
 * the rest of its requests. Nothing runs: the App is what is measured.
 */
export class RegisteringRunners {
  readonly finished: string[] = [];
  readonly failures: string[] = [];
  private readonly waiting = new Map<string, (dispatch: { runId: number; job: { id: string; attempt: number; spec: { id: string } } }) => void>();
  private cursor = 0;
  private registrations = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly slots: Promise<void>[] = [];

  constructor(private readonly options: RegisteringRunnersOptions) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), 20);
    for (let i = 0; i < this.options.slots; i++) this.slots.push(this.slot(i));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const resolve of this.waiting.values()) resolve({ runId: 0, job: { id: "", attempt: 0, spec: { id: "" } } });
    await Promise.all(this.slots);
  }

  private poll(): void {
    const { dispatches } = this.options.github.state;
    for (; this.cursor < dispatches.length; this.cursor++) {
      const dispatch = dispatches[this.cursor]!;
      const label = (JSON.parse(dispatch.inputs.runs_on ?? "[]") as string[]).find((l) => l.startsWith("kto-runner-"));
      const take = label ? this.waiting.get(label) : undefined;
      if (!label || !take) continue;
      this.waiting.delete(label);
      take({ runId: dispatch.runId, job: JSON.parse(dispatch.inputs.job ?? "{}") as { id: string; attempt: number; spec: { id: string } } });
    }
  }

  private async slot(index: number): Promise<void> {
    while (!this.stopped) {
      const name = `slot${index}-${++this.registrations}`;
      const label = `kto-runner-${name}`;
      const taken = new Promise<{ runId: number; job: { id: string; attempt: number; spec: { id: string } } }>((resolve) => this.waiting.set(label, resolve));
      const registered = await this.register(name, label);
      if ("failure" in registered) {
        this.failures.push(`registering ${name}: ${registered.failure}`);
        this.waiting.delete(label);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        continue;
      }
      const runners = this.options.github.state.runners.get(this.options.repo) ?? [];
      const runner = runners.find((r) => r.id === registered.runnerId);
      // The runner's process connects: online.
      if (runner) runner.status = "online";
      const { runId, job } = await taken;
      if (this.stopped) return;
      await this.run(runId, job, runner?.id ?? 0, name, label);
      // An ephemeral runner is gone once its job has ended.
      this.options.github.state.runners.set(
        this.options.repo,
        (this.options.github.state.runners.get(this.options.repo) ?? []).filter((r) => r.id !== registered.runnerId),
      );
    }
  }

  /** One ephemeral runner registered as the host script would: its id at GitHub, or why not. */
  private async register(name: string, label: string): Promise<{ runnerId: number } | { failure: string }> {
    const request = { repository: this.options.repo, name, labels: [...this.options.labels, label] };
    const post = async (route: string, body: unknown) => {
      const response = await fetch(`${this.options.appUrl}/kto/api/runners/${route}`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.options.registrationSecret}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    if (this.options.registration === "jit") {
      const answer = await post("jitconfig", request);
      return answer.status === 201 ? { runnerId: answer.body.runnerId as number } : { failure: `${answer.status} ${String(answer.body.message)}` };
    }
    const grant = await post("registration-token", request);
    if (grant.status !== 201) return { failure: `${grant.status} ${String(grant.body.message)}` };
    // config.sh with the token, at GitHub.
    const runner = configureRunner(this.options.github.state, {
      scope: this.options.repo,
      token: grant.body.token as string,
      name: grant.body.name as string,
      labels: grant.body.labels as string[],
      ephemeral: true,
    });
    const recorded = await post("registered", { ...request, runner_id: runner.id });
    return recorded.status === 201 ? { runnerId: runner.id } : { failure: `${recorded.status} ${String(recorded.body.message)}` };
  }

  private async run(runId: number, job: { id: string; attempt: number; spec: { id: string } }, runnerId: number, name: string, label: string): Promise<void> {
    const token = await this.options.issuer.token(this.options.repo, String(runId), this.options.audience);
    const labels = ["self-hosted", label];
    await this.workflowJob("in_progress", { runId, labels, runnerId, runnerName: name });
    await this.report(job, token, { kind: "started" });
    await new Promise((resolve) => setTimeout(resolve, this.options.runMs));
    const status = this.options.status(job.spec.id);
    await this.report(job, token, { kind: "finished", status, result: jobReport(job.spec.id, status) });
    await this.workflowJob("completed", { runId, labels, runnerId, runnerName: name, conclusion: status === "succeeded" ? "success" : "failure" });
    this.finished.push(job.id);
  }

  private async workflowJob(
    action: "in_progress" | "completed",
    job: { runId: number; labels: string[]; runnerId: number; runnerName: string; conclusion?: string },
  ): Promise<void> {
    const base = structuredClone(examples.find((e) => e.name === "workflow_job")!.examples.find((e) => e.action === action)!) as Record<string, unknown> & {
      workflow_job: Record<string, unknown>;
      repository: Record<string, unknown> & { owner: Record<string, unknown> };
    };
    const [owner, repoName] = this.options.repo.split("/");
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
      repository: { ...base.repository, full_name: this.options.repo, name: repoName, owner: { ...base.repository.owner, login: owner } },
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
      if (attempt === 10) {
        this.failures.push(`${job.id}#${job.attempt} ${String(body.kind)}: ${status}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}
