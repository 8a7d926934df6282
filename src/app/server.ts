import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeMiddleware, Probot, ProbotOctokit } from "probot";
import { systemClock, type Clock } from "../orchestrator/clock.js";
import { OrchestratorService, type OrchestratorOptions } from "../orchestrator/service.js";
import { DEFAULT_OUTBOX } from "../orchestrator/outbox-worker.js";
import { openStore } from "../orchestrator/store/open-store.js";
import type { Store } from "../orchestrator/store/store.js";
import { CheckRunReporter } from "./check-run-reporter.js";
import { asOctokit } from "./github-api.js";
import { GitHubDispatcher, type FindRun } from "./github-dispatcher.js";
import { GitHubLimits, KTO_BUDGET, limitsPlugin } from "./github-limits.js";
import { GitHubRunnerPool } from "./github-runner-pool.js";
import { ktoHandlers } from "./handlers.js";
import { oidcVerifier } from "./oidc.js";
import { DEFAULT_BODY_LIMITS, type BodyLimits } from "./body-budget.js";
import { BodyIntake } from "./request-body.js";
import { ktoRoutes } from "./routes.js";
import { registerRunner, type RegistrationRequest } from "./runner-registration.js";
import { apiBaseUrl, jwksUrl, type AppSettings } from "./settings.js";
import { verifiedDelivery } from "./verified-delivery.js";

export const WEBHOOKS_PATH = "/api/github/webhooks";

/** The webhook path as @octokit/webhooks matches it, ignoring the URL's trailing slashes. */
function isWebhookPath(url = "/"): boolean {
  try {
    return new URL(url.replace(/\/+$/, "") || "/", "http://kto").pathname === WEBHOOKS_PATH;
  } catch {
    return false;
  }
}

function notFound(response: ServerResponse): void {
  response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "not found" }));
}

/**
 * An error as kto logs it: its message, stack and own fields, and its causes, but never
 * the `event` that @octokit/webhooks attaches to it, whose payload is the whole delivery.
 */
function withoutPayload(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const fields: Record<string, unknown> = { type: error.name, message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) if (key !== "event") fields[key] = value instanceof Error ? withoutPayload(value) : value;
  if (error instanceof AggregateError) fields.errors = error.errors.map(withoutPayload);
  if (error.cause !== undefined) fields.cause = withoutPayload(error.cause);
  return fields;
}

/** Probot logs a received `{ event }` whole (at debug); kto's handlers log an event's name. */
function eventName(event: unknown): unknown {
  if (typeof event !== "object" || event === null) return event;
  const { id, name } = event as { id?: unknown; name?: unknown };
  return { id, name };
}

/**
 * Probot's logger (its format, level and output) with serializers that leave webhook
 * payloads out of every line. Probot builds its logger only inside a Probot, so one is
 * made to lend it.
 */
async function payloadFreeLog(settings: AppSettings, level: NonNullable<StartOptions["logLevel"]>): Promise<Probot["log"]> {
  const lender = await new Probot({ appId: settings.APP_ID, privateKey: settings.PRIVATE_KEY, logLevel: level }).ready();
  return lender.log.child({}, { serializers: { err: withoutPayload, event: eventName } });
}

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
  /** After a dispatch whose answer was lost: how long apart kto looks for its run, and for how long before dispatching again. */
  runLookupDelayMs?: number;
  runLookupWindowMs?: number;
  /** What request bodies may hold (DEFAULT_BODY_LIMITS), and who hears how much they hold. */
  bodies?: Partial<BodyLimits> & { onHeld?: (bytes: number) => void };
}

/** The App on one HTTP server: Probot's webhooks at /api/github/webhooks, kto's routes under /kto. */
export async function startApp(settings: AppSettings, options: StartOptions = {}): Promise<RunningApp> {
  const store = options.store ?? (await openStore({ dataDir: settings.KTO_DATA_DIR, databaseUrl: settings.DATABASE_URL }));
  const clock = options.clock ?? systemClock;
  const throttled = options.throttle !== false && settings.KTO_GITHUB_THROTTLE !== "off";
  // GitHub's answers are honoured always; kto's own budget only where GitHub's limits apply.
  const limits = new GitHubLimits({
    now: () => clock.now(),
    budget: throttled ? KTO_BUDGET : null,
    log: { warn: (fields, message) => probot.log.warn(fields, message) },
  });
  const probot = new Probot({
    appId: settings.APP_ID,
    privateKey: settings.PRIVATE_KEY,
    secret: settings.WEBHOOK_SECRET,
    baseUrl: apiBaseUrl(settings),
    log: await payloadFreeLog(settings, options.logLevel ?? "info"),
    // Retries of GitHub calls are the outbox's (with idempotency keys) or, for a webhook's
    // reads, retryReads'; rate limits are kto's (limitsPlugin): Octokit's throttling only
    // paces writes, a second apart per installation, and retries nothing itself. The
    // function form runs after Probot's own defaults, so it has the last word.
    Octokit: ProbotOctokit.plugin(limitsPlugin(limits) as Parameters<typeof ProbotOctokit.plugin>[0]).defaults((instance: Record<string, unknown>) => {
      const installationId = (instance.auth as { installationId?: unknown } | undefined)?.installationId;
      return {
        ...instance,
        retry: { enabled: false },
        throttle: throttled
          ? {
              ...(instance.throttle as object | undefined),
              enabled: true,
              // Probot keys only probot.auth()'s octokits by installation; a webhook's would share one queue with every other installation's.
              ...(installationId ? { id: String(installationId) } : {}),
              onRateLimit: () => false,
              onSecondaryRateLimit: () => false,
            }
          : { enabled: false },
      };
    }) as typeof ProbotOctokit,
  });
  const octokitFor = async (installationId: number) => asOctokit(await probot.auth(installationId));
  const pool = new GitHubRunnerPool(store, octokitFor, () => clock.now());
  const publicUrl = settings.KTO_PUBLIC_URL.replace(/\/$/, "");
  let bot: Promise<string> | null = null;
  // The App's own user, whose runs are the only ones kto takes for its dispatches.
  const botLogin = () =>
    (bot ??= (async () => {
      const { data } = await asOctokit(await probot.auth()).rest.apps.getAuthenticated();
      return `${data?.slug}[bot]`;
    })().catch((error: unknown) => {
      bot = null;
      throw error;
    }));
  const dispatcher = new GitHubDispatcher(store, octokitFor, {
    workflow: settings.KTO_WORKFLOW,
    appUrl: publicUrl,
    runDetails: !settings.GHE_HOST,
    maxInputs: settings.GHE_HOST ? 10 : 25,
    botLogin,
    lookupDelayMs: options.runLookupDelayMs ?? 3_000,
    lookupWindowMs: options.runLookupWindowMs ?? 15_000,
    now: () => clock.now(),
  });
  const findRun: FindRun = (job, plan) => dispatcher.findRun(job, plan);
  const serverUrl = settings.GHE_HOST ? `${settings.GHE_PROTOCOL}://${settings.GHE_HOST}` : "https://github.com";
  const service = new OrchestratorService({
    store,
    dispatcher,
    reporter: new CheckRunReporter(store, octokitFor, { now: () => clock.now(), serverUrl, appId: Number(settings.APP_ID) }),
    pools: [pool],
    clock,
    logger: probot.log,
    options: {
      owner: `app:${process.pid}:${Math.random().toString(36).slice(2, 8)}`,
      healthCheckMs: settings.KTO_RUNNER_SYNC_SECONDS * 1000,
      lockTtlMs: settings.KTO_LEASE_SECONDS * 1000,
      // Hourly, as the CLI prunes; a retention shorter than that is pruned as often as it
      // lasts (at most once a second), so nothing outlives it twice over.
      retention: { maxAgeMs: settings.KTO_RETENTION, everyMs: Math.min(3_600_000, Math.max(1_000, settings.KTO_RETENTION)) },
      ...options.orchestrator,
      // GitHub takes an installation's writes a second apart: they go one job at a time, in
      // priority order, rather than one per outbox worker in the order they queued.
      outbox: { ...DEFAULT_OUTBOX, ...(throttled ? { lanesPerInstallation: 1 } : {}), ...options.orchestrator?.outbox },
    },
  });
  const intake = new BodyIntake({ ...DEFAULT_BODY_LIMITS, ...options.bodies }, clock, options.bodies?.onHeld);
  const routes = ktoRoutes({
    service,
    intake,
    verify: oidcVerifier({ issuer: settings.KTO_OIDC_ISSUER, jwksUrl: jwksUrl(settings), audience: new URL(publicUrl).origin }),
    runnerWorkflow: settings.KTO_WORKFLOW,
    findRun,
    readAccess: settings.readAccess,
    rateLimited: () => limits.paused(),
    pollMs: options.orchestrator?.pollMs ?? 5_000,
    now: () => clock.now(),
    serverUrl,
    dashboard: settings.KTO_DASHBOARD === "on",
    log: probot.log,
    ...(settings.KTO_RUNNER_REGISTRATION_SECRET
      ? {
          registration: {
            secret: settings.KTO_RUNNER_REGISTRATION_SECRET,
            register: (request: RegistrationRequest) =>
              registerRunner(
                {
                  appOctokit: async () => asOctokit(await probot.auth()),
                  octokitFor,
                  pool,
                  onRegistered: async (home, runner, installationId) => {
                    await pool.registered(home, runner, installationId);
                    service.wake();
                  },
                },
                request,
              ),
          },
        }
      : {}),
  });
  const webhooks = await createNodeMiddleware(
    ktoHandlers({
      service,
      pool,
      findRun,
      now: () => clock.now(),
      sleep: (ms) => new Promise<void>((resolve) => clock.setTimer(resolve, ms)),
      onError: (event) => routes.countError(`webhook:${event}`),
    }),
    { probot, webhooksPath: WEBHOOKS_PATH },
  );

  const server = createServer((request, response) => {
    void (async () => {
      if ((request.url === "/kto" || request.url?.startsWith("/kto/") || request.url?.startsWith("/kto?")) && (await routes(request, response))) return;
      // Probot reads whatever POST it is handed: it is handed checked deliveries only.
      if (request.method === "POST") {
        if (!isWebhookPath(request.url)) return notFound(response);
        if (!(await verifiedDelivery(intake, settings.WEBHOOK_SECRET, response))) return;
      }
      const handled = await webhooks(request, response, () => notFound(response));
      if (handled === false && !response.headersSent) response.writeHead(404).end();
    })().catch((error: Error) => {
      // An error handler can never crash the process.
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: error.message }));
    });
  });
  if (settings.readAccess.kind === "token" && settings.readAccess.token === null) {
    probot.log.warn(
      "kto: the dashboard, /kto/status and /kto/metrics answer 401: set KTO_READ_TOKEN to read them (or KTO_READ_ACCESS=public where the App is not reachable from outside)",
    );
  }
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
