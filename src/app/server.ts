import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeMiddleware, Probot, ProbotOctokit } from "probot";
import { systemClock, type Clock } from "../orchestrator/clock.js";
import { OrchestratorService, type OrchestratorOptions } from "../orchestrator/service.js";
import { openStore } from "../orchestrator/store/open-store.js";
import type { Store } from "../orchestrator/store/store.js";
import { CheckRunReporter } from "./check-run-reporter.js";
import type { Octokit } from "./github-api.js";
import { GitHubDispatcher } from "./github-dispatcher.js";
import { GitHubRunnerPool } from "./github-runner-pool.js";
import { ktoHandlers } from "./handlers.js";
import { oidcVerifier } from "./oidc.js";
import { ktoRoutes } from "./routes.js";
import { registerRunner, type RegistrationRequest } from "./runner-registration.js";
import { apiBaseUrl, jwksUrl, type AppSettings } from "./settings.js";

export const WEBHOOKS_PATH = "/api/github/webhooks";

export interface RunningApp {
  url: string;
  server: Server;
  service: OrchestratorService;
  store: Store;
  pool: GitHubRunnerPool;
  /** Drains (up to drainMs), stops the orchestrator, closes the server and the store. */
  close(drainMs?: number): Promise<void>;
}

export interface StartOptions {
  store?: Store;
  clock?: Clock;
  orchestrator?: Partial<OrchestratorOptions>;
  logLevel?: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  /**
   * Octokit's throttling (on by default): GitHub asks for writes one at a time, a second
   * apart, per installation. Off only against a local double, in tests and benchmarks.
   */
  throttle?: boolean;
  /** Delay between run-name lookups when a dispatch returns no run id. */
  runLookupDelayMs?: number;
}

/** The App on one HTTP server: Probot's webhooks at /api/github/webhooks, kto's routes under /kto. */
export async function startApp(settings: AppSettings, options: StartOptions = {}): Promise<RunningApp> {
  const store = options.store ?? (await openStore({ dataDir: settings.KTO_DATA_DIR, databaseUrl: settings.DATABASE_URL }));
  const probot = new Probot({
    appId: settings.APP_ID,
    privateKey: settings.PRIVATE_KEY,
    secret: settings.WEBHOOK_SECRET,
    baseUrl: apiBaseUrl(settings),
    logLevel: options.logLevel ?? "info",
    // Retries of GitHub calls are the outbox's: one policy, with idempotency keys. The
    // function form runs after Probot's own defaults, so it has the last word.
    Octokit: ProbotOctokit.defaults((instance: Record<string, unknown>) => ({
      ...instance,
      retry: { enabled: false },
      ...(options.throttle === false || settings.KTO_GITHUB_THROTTLE === "off" ? { throttle: { enabled: false } } : {}),
    })),
  });
  const octokitFor = async (installationId: number) => (await probot.auth(installationId)) as unknown as Octokit;
  const clock = options.clock ?? systemClock;
  const pool = new GitHubRunnerPool(store, octokitFor, () => clock.now());
  const publicUrl = settings.KTO_PUBLIC_URL.replace(/\/$/, "");
  const serverUrl = settings.GHE_HOST ? `${settings.GHE_PROTOCOL}://${settings.GHE_HOST}` : "https://github.com";
  const service = new OrchestratorService({
    store,
    dispatcher: new GitHubDispatcher(store, octokitFor, { workflow: settings.KTO_WORKFLOW, appUrl: publicUrl, lookupAttempts: 5, lookupDelayMs: options.runLookupDelayMs ?? 2_000 }),
    reporter: new CheckRunReporter(store, octokitFor, serverUrl),
    pools: [pool],
    clock,
    options: {
      owner: `app:${process.pid}:${Math.random().toString(36).slice(2, 8)}`,
      healthCheckMs: settings.KTO_RUNNER_SYNC_SECONDS * 1000,
      lockTtlMs: settings.KTO_LEASE_SECONDS * 1000,
      ...options.orchestrator,
    },
  });
  const routes = ktoRoutes({
    service,
    verify: oidcVerifier({ issuer: settings.KTO_OIDC_ISSUER, jwksUrl: jwksUrl(settings), audience: new URL(publicUrl).origin }),
    pollMs: options.orchestrator?.pollMs ?? 5_000,
    now: () => clock.now(),
    serverUrl,
    dashboard: settings.KTO_DASHBOARD === "on",
    ...(settings.KTO_RUNNER_REGISTRATION_SECRET
      ? {
          registration: {
            secret: settings.KTO_RUNNER_REGISTRATION_SECRET,
            register: (request: RegistrationRequest) =>
              registerRunner({ appOctokit: async () => (await probot.auth()) as unknown as Octokit, octokitFor, pool, onRegistered: () => service.resources.sync() }, request),
          },
        }
      : {}),
  });
  const webhooks = await createNodeMiddleware(ktoHandlers({ service, pool, now: () => clock.now(), onError: (event) => routes.countError(`webhook:${event}`) }), { probot, webhooksPath: WEBHOOKS_PATH });
  const server = createServer((request, response) => {
    void (async () => {
      if ((request.url === "/kto" || request.url?.startsWith("/kto/") || request.url?.startsWith("/kto?")) && (await routes(request, response))) return;
      const handled = await webhooks(request, response, () => {
        response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "not found" }));
      });
      if (handled === false && !response.headersSent) response.writeHead(404).end();
    })().catch((error: Error) => {
      // An error handler can never crash the process.
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: error.message }));
    });
  });
  await service.start();
  await new Promise<void>((resolve) => server.listen(settings.PORT, settings.HOST, resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.address === "0.0.0.0" ? "127.0.0.1" : address.address}:${address.port}`,
    server,
    service,
    store,
    pool,
    close: async (drainMs = 0) => {
      await service.stop({ drainMs });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!options.store) await store.close();
    },
  };
}
