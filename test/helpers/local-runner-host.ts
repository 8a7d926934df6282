import { workflowJobDelivery, workflowJobId } from "./workflow-job-ids.js";
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { labelsForHost, readHostFacts } from "../../src/runners/host-labels.js";
import { killMarkedProcesses, ownerIsGone } from "../../src/runners/leftovers.js";
import { actionsRunnerEnv } from "./actions-runtime.js";
import type { GitHubApiDouble, Runner } from "./github-api-double.js";
import type { OidcIssuer } from "./oidc-issuer.js";

const require = createRequire(import.meta.url);
/** What the action prints when something kept it alive after its work was done. */
const HELD_OPEN = "::warning::kto: the job is done but";
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

export interface RunnerHostOptions {
  name: string;
  github: GitHubApiDouble;
  repo: string;
  installationId: number;
  appUrl: () => string;
  webhookSecret: string;
  registrationSecret: string;
  /** The checkout of the repository the jobs see. */
  workspace: string;
  /** The bundled action (dist/index.js). */
  action: string;
  issuer: OidcIssuer;
  artifacts: { resultsUrl: string; runtimeToken: string };
  /** Where each run's RUNNER_TEMP, outputs and summary go. */
  workDir: string;
  runners: number;
  /** Labels every runner of this host has besides the detected ones. */
  extraLabels?: string[];
  /** The host's own environment for the action (its build store, its compiler cache). */
  env?: Record<string, string>;
  log: (line: string) => void;
}

export interface FinishedRun {
  runId: number;
  runner: string;
  jobId: string;
  attempt: number;
  exitCode: number | null;
}

interface LocalRunner {
  record: Runner;
  busy: boolean;
  queue: { runId: number; inputs: Record<string, string> }[];
}

/**
 * A runner host as the Actions service and runner make it look: its runners register
 * through the App (just in time), come online, and take each workflow dispatch whose
 * `runs-on` they match, running the bundled action the way the runner does (inputs as
 * INPUT_*, the OIDC and artifact endpoints, GITHUB_* files). workflow_job webhooks go to
 * the App as GitHub sends them. `kill()` is the host losing power.
 */
export class LocalRunnerHost {
  readonly finished: FinishedRun[] = [];
  readonly started: number[] = [];
  /** Runs whose action said something held it open after its work was done (and left anyway). */
  readonly leaked: number[] = [];
  /** Runs still going when the host's stop ran out of time, and killed. */
  readonly hung: number[] = [];
  private readonly runners: LocalRunner[] = [];
  /** By `<run>/<runner>`: a run of several matrix jobs may have more than one on this host. */
  private readonly children = new Map<string, ChildProcess>();
  private readonly executing = new Map<string, Promise<void>>();
  private cursor = 0;
  private registrations = 0;
  private facts: Awaited<ReturnType<typeof readHostFacts>> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private alive = false;

  constructor(private readonly options: RunnerHostOptions) {}

  async start(): Promise<void> {
    // What kto-runner-host.sh does first: leftovers of a host that died go.
    await new DockerExecutor().sweepOrphans().catch(() => 0);
    await killMarkedProcesses(ownerIsGone);
    this.facts = await readHostFacts();
    for (let i = 0; i < this.options.runners; i++) this.runners.push(await this.register());
    this.alive = true;
    this.cursor = this.options.github.state.dispatches.length;
    this.timer = setInterval(() => this.poll(), 50);
  }

  /** One runner service registering its runner through the App (just in time) and connecting. */
  private async register(): Promise<LocalRunner> {
    const name = `${this.options.name}-${++this.registrations}-${Math.random().toString(16).slice(2, 8)}`;
    const labels = [...labelsForHost(this.facts!, { name }).labels, ...(this.options.extraLabels ?? [])];
    const response = await fetch(`${this.options.appUrl()}/kto/api/runners/jitconfig`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.options.registrationSecret}`, "content-type": "application/json" },
      body: JSON.stringify({ repository: this.options.repo, name, labels }),
    });
    const body = (await response.json()) as { runnerId?: number; message?: string };
    if (response.status !== 201) throw new Error(`registering ${name}: ${response.status} ${body.message}`);
    const record = this.options.github.state.runners.get(this.options.repo)!.find((r) => r.id === body.runnerId)!;
    // The runner connects with its JIT config: it is online.
    record.status = "online";
    this.options.log(`${this.options.name}: runner ${name} online with labels ${labels.join(", ")}`);
    return { record, busy: false, queue: [] };
  }

  /**
   * A just-in-time runner takes one job: GitHub removes it when that job is done, and the
   * host's runner service (restarted by systemd) registers the next one.
   */
  private async replace(runner: LocalRunner): Promise<void> {
    const { runners } = this.options.github.state;
    runners.set(
      this.options.repo,
      (runners.get(this.options.repo) ?? []).filter((r) => r.id !== runner.record.id),
    );
    this.runners.splice(this.runners.indexOf(runner), 1);
    for (let attempt = 1; this.alive; attempt++) {
      try {
        this.runners.push(await this.register());
        return;
      } catch (error) {
        // The App is down or refuses for now: the service restarts after a pause, as systemd does.
        this.options.log(`${this.options.name}: registering a runner failed (${(error as Error).message}); again in ${attempt} s`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(attempt, 5) * 1000));
      }
    }
  }

  /** The host loses power: its runs die where they are, its runners drop offline. */
  async kill(): Promise<void> {
    await this.shutDown("SIGKILL");
    this.options.log(`${this.options.name}: host killed`);
  }

  /** The runs taken and not yet over: setting up, or their action still running. */
  running(): number[] {
    return [...new Set([...this.executing.keys()].map((key) => Number(key.split("/")[0])))];
  }

  /**
   * Waits for the runs in hand, then takes its runners offline. A run still going after
   * `limitMs` is killed, and named in the log, so that a hung action fails its test rather
   * than holding it open.
   */
  async stop(limitMs = 60_000): Promise<void> {
    await this.shutDown(null, limitMs);
  }

  private async shutDown(signal: NodeJS.Signals | null, limitMs = 0): Promise<void> {
    this.alive = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A run still setting up starts no action now; one whose action runs is waited for.
    const over = Promise.all(this.executing.values());
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (deadline = setTimeout(() => resolve("late"), limitMs)));
    if (signal) for (const child of this.children.values()) child.kill(signal);
    else if ((await Promise.race([over, late])) === "late")
      for (const [key, child] of this.children) {
        const runId = Number(key.split("/")[0]);
        this.options.log(`${this.options.name}: run ${key} still running ${limitMs} ms after the host began to stop; killed`);
        this.hung.push(runId);
        child.kill("SIGKILL");
      }
    await over;
    clearTimeout(deadline);
    for (const runner of this.runners) runner.record.status = "offline";
  }

  private poll(): void {
    const { dispatches, cancelled } = this.options.github.state;
    for (; this.cursor < dispatches.length; this.cursor++) {
      const dispatch = dispatches[this.cursor]!;
      if (dispatch.repo !== this.options.repo) continue;
      const wanted = JSON.parse(dispatch.inputs.runs_on ?? "[]") as string[];
      const runner = this.runners.find((r) => wanted.every((label) => r.record.labels.some((l) => l.name === label)));
      if (!runner) continue; // another host's runner, or one that is gone: GitHub keeps it queued
      runner.queue.push({ runId: dispatch.runId, inputs: dispatch.inputs });
      this.next(runner);
    }
    // A cancelled run gets SIGINT, as the runner sends it, and reports itself cancelled.
    for (const [key, child] of this.children) if (cancelled.includes(Number(key.split("/")[0]))) child.kill("SIGINT");
  }

  private next(runner: LocalRunner): void {
    if (runner.busy || !this.alive) return;
    // A run cancelled while it waited for the runner never starts, as on GitHub.
    const cancelled = this.options.github.state.cancelled;
    while (runner.queue.length && cancelled.includes(runner.queue[0]!.runId)) runner.queue.shift();
    const run = runner.queue.shift();
    if (!run) return;
    runner.busy = true;
    runner.record.busy = true;
    const over = this.execute(runner, run.runId, run.inputs)
      .catch((error: Error) => this.options.log(`${this.options.name}: run ${run.runId} failed to start: ${error.message}`))
      .then(async () => {
        this.executing.delete(`${run.runId}/${runner.record.name}`);
        runner.busy = false;
        runner.record.busy = false;
        if (this.alive) await this.replace(runner);
      });
    this.executing.set(`${run.runId}/${runner.record.name}`, over);
  }

  private async execute(runner: LocalRunner, runId: number, inputs: Record<string, string>): Promise<void> {
    const job = JSON.parse(inputs.job ?? "{}") as { id: string; attempt: number };
    const oidc = this.options.issuer.tokenRequest(this.options.repo, String(runId));
    const env = await actionsRunnerEnv({
      dir: join(this.options.workDir, `run-${runId}-${runner.record.name}`),
      workspace: this.options.workspace,
      inputs: { job: inputs.job ?? "", "app-url": inputs.app_url ?? "" },
      repository: this.options.repo,
      runId: String(runId),
      sha: inputs.sha ?? "",
      event: { inputs, workflow: ".github/workflows/kto-runner.yml" },
      extra: {
        RUNNER_NAME: runner.record.name,
        ACTIONS_RUNTIME_TOKEN: this.options.artifacts.runtimeToken,
        ACTIONS_RESULTS_URL: `${this.options.artifacts.resultsUrl}/`,
        ACTIONS_ID_TOKEN_REQUEST_URL: oidc.url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.token,
        ...this.options.env,
      },
    });
    if (!this.alive) return;
    this.started.push(runId);
    await this.workflowJob("in_progress", runner, runId);
    if (!this.alive) return;
    this.options.log(`${this.options.name}: ${runner.record.name} runs ${job.id} (attempt ${job.attempt}, run ${runId})`);
    const child = spawn(process.execPath, [this.options.action], { env, cwd: this.options.workspace, stdio: ["ignore", "pipe", "pipe"] });
    this.children.set(`${runId}/${runner.record.name}`, child);
    // The runner shows the action's log; what matters here is whether it said it was held open.
    let tail = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      tail = (tail + chunk.toString("utf8")).slice(-4096);
      if (tail.includes(HELD_OPEN) && !this.leaked.includes(runId)) this.leaked.push(runId);
    });
    child.stderr!.resume();
    const exitCode = await new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    this.children.delete(`${runId}/${runner.record.name}`);
    if (!this.alive && child.signalCode === "SIGKILL") return; // died with the host: no webhook, no summary
    this.finished.push({ runId, runner: runner.record.name, jobId: job.id, attempt: job.attempt, exitCode });
    await this.workflowJob("completed", runner, runId, exitCode === 0 ? "success" : "failure");
    this.options.log(`${this.options.name}: ${runner.record.name} finished ${job.id} (exit ${exitCode})`);
  }

  /** The webhook GitHub sends when a job of a workflow run starts or ends on a runner. */
  private async workflowJob(action: "in_progress" | "completed", runner: LocalRunner, runId: number, conclusion?: string): Promise<void> {
    const base = structuredClone(examples.find((e) => e.name === "workflow_job")!.examples.find((e) => e.action === action)!) as Record<string, unknown> & {
      workflow_job: Record<string, unknown>;
      repository: Record<string, unknown> & { owner: Record<string, unknown> };
    };
    const [owner, name] = this.options.repo.split("/");
    const payload = {
      ...base,
      workflow_job: {
        ...base.workflow_job,
        id: workflowJobId(runId, runner.record.id),
        run_id: runId,
        status: action,
        conclusion: conclusion ?? null,
        runner_id: runner.record.id,
        runner_name: runner.record.name,
        labels: runner.record.labels.map((l) => l.name),
      },
      repository: { ...base.repository, full_name: this.options.repo, name, owner: { ...base.repository.owner, login: owner } },
      installation: { id: this.options.installationId },
    };
    const body = JSON.stringify(payload);
    try {
      await fetch(`${this.options.appUrl()}/api/github/webhooks`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "workflow_job",
          "x-github-delivery": workflowJobDelivery(runId, runner.record.id, action),
          "x-hub-signature-256": await sign(this.options.webhookSecret, body),
        },
        body,
        signal: AbortSignal.timeout(10_000), // GitHub gives up on a delivery after 10 s
      });
    } catch {
      // the App is down: GitHub's delivery fails the same way, and is not retried by itself
    }
  }
}
