import type { ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sign } from "@octokit/webhooks-methods";
import { startAzurite, startResultsService, type ResultsServiceDouble } from "./actions-runtime.js";
import { appProcessEnv, spawnApp } from "./app-process.js";
import { startGitHubApiDouble, type GitHubApiDouble, type GitHubApiDoubleOptions } from "./github-api-double.js";
import { LocalRunnerHost } from "./local-runner-host.js";
import { startOidcIssuer, type OidcIssuer } from "./oidc-issuer.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

/** The repository root: the workspace the jobs see (it holds examples/tests). */
export const PROJECT_ROOT = fileURLToPath(new URL(existsSync(new URL("../../package.json", import.meta.url)) ? "../../" : "../../../", import.meta.url));

export const LOCAL_REPO = "octo-org/linux";
export const INSTALLATION_ID = 7;

export interface CheckRunView {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  external_id?: string;
  details_url?: string;
  output: { title: string; summary: string; annotations?: { path: string; start_line: number; title: string; message: string }[] };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP balancer on `port` handing each connection to the next of `backends`, as a load balancer in front of replicas does. */
async function roundRobin(port: number, backends: readonly number[]): Promise<Server> {
  let next = 0;
  const server = createServer((client) => {
    const upstream = connect(backends[next++ % backends.length]!, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const close = () => (client.destroy(), upstream.destroy());
    client.on("error", close);
    upstream.on("error", close);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

export interface LocalSystemOptions {
  /** Scratch space: the App's store, Azurite's blobs, each run's files. */
  dir: string;
  /** Runner hosts and runners on each (all on this machine, with its detected labels). */
  hosts?: { name: string; runners: number; extraLabels?: string[] }[];
  /** The checkout the jobs see (default: this repository, which holds examples/tests). */
  workspace?: string;
  /**
   * Environment every runner host gives the action, e.g. KTO_CCACHE_DIR. The hosts share one
   * build store, as hosts that mount one do: this machine's double serves no other run's
   * artifact to a run, so a suite that boots a build on the other host reads it there.
   */
  runnerEnv?: Record<string, string>;
  log?: (line: string) => void;
  /** Extra App settings (KTO_*), e.g. a PostgreSQL DATABASE_URL. */
  appEnv?: Record<string, string>;
  /** How the GitHub double behaves (its real rate limits, its latency). */
  github?: GitHubApiDoubleOptions;
  /** Which of the double's APIs the App talks to: GHES's /api/v3 (the default), or github.com's. */
  server?: "ghes" | "github.com";
  /**
   * App processes sharing one queue (default 1), behind a round-robin TCP balancer at
   * `appUrl`, as a deployment puts them; more than one needs a PostgreSQL DATABASE_URL.
   */
  replicas?: number;
}

/**
 * kto end to end on one machine: the App as its own process on a real port, the GitHub
 * API double, the Actions artifact service (Azurite) and OIDC issuer, and runner hosts
 * that take each workflow dispatch and run the bundled action on real Docker and QEMU.
 */
export class LocalSystem {
  readonly webhookSecret = randomBytes(12).toString("hex");
  readonly registrationSecret = randomBytes(24).toString("hex");
  readonly hosts: LocalRunnerHost[] = [];
  appUrl = "";
  private apps: ChildProcess[] = [];
  private replicaPorts: number[] = [];
  private balancer: Server | null = null;
  private appEnv: Record<string, string> = {};
  private readonly privateKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  private nextDelivery = 1;

  private constructor(
    readonly github: GitHubApiDouble,
    readonly issuer: OidcIssuer,
    readonly results: ResultsServiceDouble,
    private readonly azurite: { stop: () => Promise<void> },
    private readonly options: LocalSystemOptions,
  ) {}

  static async start(options: LocalSystemOptions): Promise<LocalSystem> {
    await mkdir(join(options.dir, "azurite"), { recursive: true });
    const azurite = await startAzurite(join(options.dir, "azurite"));
    const system = new LocalSystem(
      await startGitHubApiDouble(options.github),
      await startOidcIssuer(),
      await startResultsService(azurite.url),
      azurite,
      options,
    );
    system.github.state.installations.set(LOCAL_REPO, INSTALLATION_ID);
    const port = await freePort();
    system.appUrl = `http://127.0.0.1:${port}`;
    const replicas = options.replicas ?? 1;
    system.replicaPorts = replicas === 1 ? [port] : await Promise.all(Array.from({ length: replicas }, () => freePort()));
    if (replicas > 1) system.balancer = await roundRobin(port, system.replicaPorts);
    system.appEnv = appProcessEnv(
      {
        github: system.github,
        issuer: system.issuer,
        webhookSecret: system.webhookSecret,
        privateKey: system.privateKey,
        dataDir: join(options.dir, "app-data"),
        publicUrl: system.appUrl,
        port,
        server: options.server,
      },
      { KTO_RUNNER_REGISTRATION_SECRET: system.registrationSecret, KTO_RUNNER_REPOSITORIES: LOCAL_REPO, KTO_LEASE_SECONDS: "3", ...options.appEnv },
    );
    await system.startApp();
    for (const host of options.hosts ?? [{ name: "host-a", runners: 2 }]) await system.addHost(host);
    return system;
  }

  /** The (first) App process's pid while it runs. */
  get appPid(): number | null {
    return this.apps[0]?.pid ?? null;
  }

  /** Every App process's pid while it runs. */
  get appPids(): number[] {
    return this.apps.flatMap((app) => (app.pid === undefined ? [] : [app.pid]));
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  /** `kto app` in its own process (one per replica), as a user runs it; resolves once each answers. */
  async startApp(): Promise<void> {
    this.apps = [];
    for (const [n, port] of this.replicaPorts.entries()) await this.startReplica(n, port);
  }

  private async startReplica(n: number, port: number): Promise<void> {
    const logFile = join(this.options.dir, n === 0 ? "app.log" : `app-${n + 1}.log`);
    const { child, exited } = spawnApp(this.options.dir, { ...this.appEnv, PORT: String(port) }, 5, logFile);
    this.apps.push(child);
    const failed = exited.then((code) => Promise.reject(new Error(`kto app exited (${code}) before answering; see app.log`)));
    const up = (async () => {
      for (;;) {
        if (
          await fetch(`http://127.0.0.1:${port}/kto/status`).then(
            (r) => r.ok,
            () => false,
          )
        )
          return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    await Promise.race([up, failed]);
    this.log(`app: listening on port ${port} (pid ${child.pid})`);
  }

  /** SIGKILL: the App dies mid-flow, with no chance to drain. */
  async killApp(): Promise<void> {
    if (await this.signalApp("SIGKILL")) this.log("app: killed (SIGKILL)");
  }

  /** SIGTERM: the App drains and stops. */
  async stopApp(): Promise<void> {
    await this.signalApp("SIGTERM");
  }

  private async signalApp(signal: NodeJS.Signals): Promise<boolean> {
    const running = this.apps.filter((child) => child.exitCode === null && child.signalCode === null);
    await Promise.all(
      running.map((child) => {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill(signal);
        return exited;
      }),
    );
    this.apps = [];
    return running.length > 0;
  }

  async addHost(host: { name: string; runners: number; extraLabels?: string[] }): Promise<LocalRunnerHost> {
    const runnerHost = new LocalRunnerHost({
      name: host.name,
      github: this.github,
      repo: LOCAL_REPO,
      installationId: INSTALLATION_ID,
      appUrl: () => this.appUrl,
      webhookSecret: this.webhookSecret,
      registrationSecret: this.registrationSecret,
      workspace: this.options.workspace ?? PROJECT_ROOT,
      action: join(PROJECT_ROOT, "dist", "index.js"),
      env: { KTO_BUILD_STORE: join(this.options.dir, "runs", "builds"), ...this.options.runnerEnv },
      issuer: this.issuer,
      artifacts: { resultsUrl: this.results.url, runtimeToken: this.results.runtimeToken },
      workDir: join(this.options.dir, "runs", host.name),
      runners: host.runners,
      extraLabels: host.extraLabels ?? [],
      log: (line) => this.log(line),
    });
    await runnerHost.start();
    this.hosts.push(runnerHost);
    return runnerHost;
  }

  /** POSTs a webhook signed as GitHub signs it; the status, or null when the App is not there. */
  async deliver(event: string, payload: unknown, id = `delivery-${this.nextDelivery++}`): Promise<number | null> {
    const body = JSON.stringify(payload);
    return fetch(`${this.appUrl}/api/github/webhooks`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": id,
        "x-hub-signature-256": await sign(this.webhookSecret, body),
      },
      body,
    }).then(
      (r) => r.status,
      () => null,
    );
  }

  /** A maintainer opens pull request `number` at commit `sha` carrying `config` as .github/kto.yml. */
  async openPullRequest(number: number, sha: string, config: string): Promise<number | null> {
    const [owner, name] = LOCAL_REPO.split("/");
    this.github.state.files.set(`${LOCAL_REPO}@${sha}:.github/kto.yml`, config);
    this.github.state.pulls.set(`${LOCAL_REPO}#${number}`, { number, head: { sha } });
    const base = structuredClone(examples.find((e) => e.name === "pull_request")!.examples.find((e) => e.action === "opened")!) as Record<string, unknown> & {
      pull_request: Record<string, unknown> & { head: Record<string, unknown>; base: Record<string, unknown> };
      repository: Record<string, unknown> & { owner: Record<string, unknown> };
    };
    const repository = { ...base.repository, full_name: LOCAL_REPO, name, owner: { ...base.repository.owner, login: owner }, default_branch: "master" };
    const payload = {
      ...base,
      number,
      pull_request: {
        ...base.pull_request,
        number,
        author_association: "MEMBER",
        labels: [],
        head: { ...base.pull_request.head, sha, repo: repository },
        base: { ...base.pull_request.base, repo: repository },
      },
      repository,
      installation: { id: INSTALLATION_ID },
    };
    this.log(`github: pull_request.opened #${number} at ${sha.slice(0, 7)}`);
    return this.deliver("pull_request", payload);
  }

  checkRuns(sha?: string): CheckRunView[] {
    return ([...this.github.state.checkRuns.values()] as unknown as CheckRunView[]).filter((c) => !sha || c.head_sha === sha);
  }

  /** Resolves when every check run on `sha` (at least `count`) is completed. */
  async checkRunsCompleted(sha: string, count: number, limitMs = 300_000): Promise<CheckRunView[]> {
    const start = Date.now();
    for (;;) {
      const runs = this.checkRuns(sha).filter((c) => c.name !== "kto / config");
      if (runs.length >= count && runs.every((c) => c.status === "completed")) return runs;
      if (Date.now() - start > limitMs)
        throw new Error(
          `check runs on ${sha.slice(0, 7)} not completed after ${limitMs} ms: ${runs.map((c) => `${c.name}=${c.status}/${c.output.title}`).join(", ")}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Waits up to `limitMs` for every run the hosts started to end, as the runner waits for the
   * action's process; returns the runs still going then. A run that reported but never ends
   * holds its runner on GitHub while kto counts it free.
   */
  async runsEnded(limitMs = 30_000): Promise<number[]> {
    const start = Date.now();
    for (;;) {
      const running = this.hosts.flatMap((host) => host.running());
      if (!running.length || Date.now() - start > limitMs) return running;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Runs whose action said something held it open after its work was done. */
  leakedRuns(): number[] {
    return this.hosts.flatMap((host) => host.leaked);
  }

  async status(): Promise<{ counts: Record<string, number> }> {
    return (await (await fetch(`${this.appUrl}/kto/status`)).json()) as { counts: Record<string, number> };
  }

  async close(): Promise<void> {
    for (const host of this.hosts) await host.stop();
    await this.stopApp();
    await new Promise((resolve) => (this.balancer ? this.balancer.close(resolve) : resolve(undefined)));
    await this.results.close();
    await this.azurite.stop();
    await this.issuer.close();
    await this.github.close();
  }
}
