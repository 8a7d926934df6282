import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";
import { sign } from "@octokit/webhooks-methods";
import { startApp, WEBHOOKS_PATH } from "../src/app/server.js";
import { openStore } from "../src/orchestrator/store/open-store.js";
import { doubleAppSettings } from "../test/helpers/app-settings.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../test/helpers/github-api-double.js";

const require = createRequire(import.meta.url);
const SECRET = "bench-secret";
const CONFIG = 'version: 1\nsuites:\n  - { name: unit, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }\n';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export interface WebhookFigures {
  rate: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
}

async function send(url: string, event: string, payload: object): Promise<void> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${url}${WEBHOOKS_PATH}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": randomBytes(8).toString("hex"),
      "x-hub-signature-256": await sign(SECRET, body),
    },
    body,
  });
  if (!response.ok) throw new Error(`webhook answered ${response.status}`);
}

/** Sends `events` pull_request.opened webhooks at `rate` per second; measures until each one's queued check run request reaches GitHub. */
async function measure(url: string, github: GitHubApiDouble, rate: number, events: number, base: number): Promise<WebhookFigures> {
  const template = (require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: { action: string }[] }[])
    .find((e) => e.name === "pull_request")!
    .examples.filter((e) => e.action === "opened")[1] as unknown as {
    pull_request: { number: number; head: { sha: string } };
    repository: { full_name: string };
  };
  const sentAt = new Map<string, number>();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < events; i++) {
    const payload = structuredClone(template);
    const sha = (base + i).toString(16).padStart(40, "0");
    payload.pull_request.number = base + i;
    payload.pull_request.head.sha = sha;
    github.state.files.set(`${payload.repository.full_name}@${sha}:.github/kto.yml`, CONFIG);
    const due = performance.now();
    sentAt.set(sha, due);
    sends.push(send(url, "pull_request", payload));
    await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
  }
  await Promise.all(sends);
  const latencies: number[] = [];
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    latencies.length = 0;
    for (const [sha, at] of sentAt) {
      const created = github.requests.find((r) => r.operationId === "checks/create" && r.body.head_sha === sha);
      if (created) latencies.push(created.at - at);
    }
    if (latencies.length === events) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (latencies.length < events)
    throw new Error(`only ${latencies.length} of ${events} check runs were requested; GitHub double rejected: ${github.rejected.slice(0, 3).join(" | ")}`);
  return { rate, events, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** The App under webhook load against the GitHub API double; baseline: a bare Probot handler that creates one check run. */
export async function webhookBenchmark(progress: (line: string) => void): Promise<{ kto: WebhookFigures[]; baseline: WebhookFigures[]; peakRssBytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), "kto-bench-app-"));
  const github = await startGitHubApiDouble();
  const store = await openStore({ dataDir: dir, databaseUrl: "" });
  const settings = doubleAppSettings(github.url, { WEBHOOK_SECRET: SECRET });
  const app = await startApp(settings, {
    store,
    logLevel: "fatal",
    throttle: false,
    orchestrator: { pollMs: 1_000, outboxPollMs: 50, outbox: { maxAttempts: 5, baseDelayMs: 50, maxDelayMs: 500, concurrency: 4 } },
  });
  const kto: WebhookFigures[] = [];
  const baseline: WebhookFigures[] = [];
  try {
    for (const [rate, events] of [
      [50, 200],
      [500, 500],
    ] as const) {
      progress(`webhooks: kto at ${rate}/s (${events} events)`);
      kto.push(await measure(app.url, github, rate, events, 10_000 * rate));
    }
  } finally {
    await app.close();
    await store.close();
  }
  // Baseline: the same Probot and double, a handler that only creates the check run.
  const { Probot, ProbotOctokit, createNodeMiddleware } = await import("probot");
  const { createServer } = await import("node:http");
  const probot = new Probot({
    appId: "1",
    privateKey: settings.PRIVATE_KEY,
    secret: SECRET,
    baseUrl: `http://${settings.GHE_HOST}/api/v3`,
    logLevel: "fatal",
    Octokit: ProbotOctokit.defaults((instance: Record<string, unknown>) => ({ ...instance, retry: { enabled: false }, throttle: { enabled: false } })),
  });
  const middleware = await createNodeMiddleware(
    (bare) => {
      bare.on("pull_request.opened", async (context) => {
        await context.octokit.rest.checks.create({ ...context.repo(), name: "bare", head_sha: context.payload.pull_request.head.sha, status: "queued" });
      });
    },
    { probot, webhooksPath: WEBHOOKS_PATH },
  );
  const server = createServer((request, response) => void middleware(request, response));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const bareUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    for (const [rate, events] of [
      [50, 200],
      [500, 500],
    ] as const) {
      progress(`webhooks: bare Probot handler at ${rate}/s (${events} events)`);
      baseline.push(await measure(bareUrl, github, rate, events, 20_000_000 + 10_000 * rate));
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await github.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { kto, baseline, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}
