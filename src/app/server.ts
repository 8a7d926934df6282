import { BaselineScheduler } from "./history/baseline-scheduler.js";
import { CommitAncestry } from "./history/commit-ancestry.js";
import { DEFAULT_LIFECYCLE } from "../orchestrator/job-lifecycle.js";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createNodeMiddleware } from "probot";
import { systemClock, type Clock } from "../orchestrator/clock.js";
import type { OrchestratorOptions } from "../orchestrator/orchestrator-options.js";
import type { OrchestratorService } from "../orchestrator/service.js";
import { openStore } from "../orchestrator/store/open-store.js";
import type { Store } from "../orchestrator/store/store.js";
import type { ResultHistory } from "../orchestrator/store/result-history.js";
import { appDispatcher, appOrchestrator, appOrchestratorOptions, resultJudge, serverUrlOf } from "./app-orchestrator.js";
import { Bisector } from "./bisect/bisector.js";
import { basePolicyCache } from "./trust/base-policy.js";
import { planSubmitter } from "./webhooks/plan-submitter.js";
import { appRequestListener, WEBHOOKS_PATH } from "./http/app-server.js";
import { DEFAULT_BODY_LIMITS, type BodyLimits } from "./http/body-budget.js";
import type { FindRun } from "./github/github-dispatcher.js";
import { githubClient, type GitHubClient } from "./github/github-client.js";
import { GitHubRunnerPool } from "./github/github-runner-pool.js";
import { InstallationGrants } from "./github/installation-grants.js";
import { REPOSITORY_BACKSTOP_MS } from "./github/listing-schedule.js";
import { ktoHandlers } from "./webhooks/handlers.js";
import { MISSED_DELIVERIES, MissedDeliveries, sweepMissedDeliveries, type MissedDeliveryOptions } from "./webhooks/missed-deliveries.js";
import { oidcVerifier } from "./http/oidc.js";
import type { LogLevel } from "./github/payload-free-log.js";
import { BodyIntake } from "./http/request-body.js";
import { ktoRoutes, type RoutesDeps, type RoutesService } from "./http/routes.js";
import { registerRunner } from "./http/runner-registration.js";
import { TokenRegistration } from "./http/token-registration.js";
import { RegistrationTokens } from "./github/registration-tokens.js";
import { jwksUrl, type AppSettings } from "./settings.js";

export { WEBHOOKS_PATH } from "./http/app-server.js";

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
  logLevel?: LogLevel;
  /**
   * Octokit's throttling (on by default): GitHub asks for writes one at a time, a second
   * apart, per installation. Off only against a local double, in tests and benchmarks.
   */
  throttle?: boolean;
  /**
   * kto's own budget below GitHub's secondary limits (default: on where throttling is). A
   * benchmark keeps it without the spacing, whose cost it computes rather than waits out.
   */
  budget?: boolean;
  /** After a dispatch whose answer was lost: how long apart kto looks for its run, and for how long before dispatching again. */
  runLookupDelayMs?: number;
  runLookupWindowMs?: number;
  /** How kto looks for webhooks GitHub could not deliver (MISSED_DELIVERIES). */
  missedDeliveries?: Partial<MissedDeliveryOptions>;
  /** What request bodies may hold (DEFAULT_BODY_LIMITS), and who hears how much they hold. */
  bodies?: Partial<BodyLimits> & { onHeld?: (bytes: number) => void };
}

/** The App on one HTTP server: Probot's webhooks at /api/github/webhooks, kto's routes under /kto. */
export async function startApp(settings: AppSettings, options: StartOptions = {}): Promise<RunningApp> {
  const store = options.store ?? (await openStore({ dataDir: settings.KTO_DATA_DIR, databaseUrl: settings.DATABASE_URL }));
  const clock = options.clock ?? systemClock;
  const throttled = options.throttle !== false && settings.KTO_GITHUB_THROTTLE !== "off";
  const github = await githubClient(settings, { clock, throttled, budget: options.budget, logLevel: options.logLevel ?? "info", store });
  const grants = new InstallationGrants(github.appOctokit, () => clock.now());
  const pool = new GitHubRunnerPool(store, github.octokitFor, grants, () => clock.now(), github.log, {
    organizationMs: settings.KTO_RUNNER_SYNC_SECONDS * 1000,
    repositoryBackstopMs: REPOSITORY_BACKSTOP_MS,
    leaseMs: options.orchestrator?.lifecycle?.leaseMs ?? DEFAULT_LIFECYCLE.leaseMs,
  });
  const dispatcher = appDispatcher(settings, store, github, clock, { delayMs: options.runLookupDelayMs, windowMs: options.runLookupWindowMs });
  const findRun: FindRun = (job, plan) => dispatcher.findRun(job, plan);
  const orchestratorOptions = appOrchestratorOptions(settings, throttled, options.orchestrator);
  // The bisector plans through the service that tells it of jobs' ends: it is bound once both are made.
  let bisector: Bisector | null = null;
  let baselines: BaselineScheduler | null = null;
  // One judge for the check runs and the Bisect button: what a press is offered is what the check run showed.
  const judge = resultJudge(store, github, clock, { request: async (plan, sha, job) => (await baselines?.request(plan, sha, job)) ?? false });
  const service = appOrchestrator({
    settings,
    store,
    github,
    dispatcher,
    pool,
    clock,
    budgeted: options.budget ?? throttled,
    options: orchestratorOptions,
    jobEnded: async (job) => {
      await bisector?.advance(job);
      await baselines?.ended(job);
    },
    judge,
  });
  const intake = new BodyIntake({ ...DEFAULT_BODY_LIMITS, ...options.bodies }, clock, options.bodies?.onHeld);
  const now = () => clock.now();
  baselines = new BaselineScheduler({
    reads: service.reads,
    plans: planSubmitter({ service, pool, now }),
    history: store.history,
    ancestry: new CommitAncestry(github.octokitFor),
    octokitFor: github.octokitFor,
    basePolicy: basePolicyCache(now),
    republish: (jobs, why) => service.republish(jobs, why),
  });
  bisector = new Bisector({
    bisections: store.bisections,
    history: store.history,
    reads: service.reads,
    plans: planSubmitter({ service, pool, now }),
    jobs: service,
    octokitFor: github.octokitFor,
    basePolicy: basePolicyCache(now),
    judge,
    serverUrl: serverUrlOf(settings),
    ...(settings.KTO_DASHBOARD === "on" ? { dashboardUrl: settings.KTO_PUBLIC_URL.replace(/\/$/, "") } : {}),
    now,
  });
  const routes = ktoRoutes(
    routesDeps({
      settings,
      github,
      service,
      pool,
      intake,
      findRun,
      clock,
      pollMs: options.orchestrator?.pollMs ?? 5_000,
      history: store.history,
      bisections: store.bisections,
    }),
  );
  const handlers = ktoHandlers({
    service,
    pool,
    findRun,
    now: () => clock.now(),
    sleep: (ms) => new Promise<void>((resolve) => clock.setTimer(resolve, ms)),
    onError: (event) => routes.countError(`webhook:${event}`),
    bisector,
  });
  const webhooks = await createNodeMiddleware(handlers, { probot: github.probot, webhooksPath: WEBHOOKS_PATH });
  const server = createServer(appRequestListener({ routes, webhooks, intake, webhookSecret: settings.WEBHOOK_SECRET }));
  warnIfStateUnreadable(settings, github.log);
  await service.start();
  const url = await listen(server, settings);
  // Once the webhook path listens: what GitHub could not deliver while kto was away is asked for again.
  const missedOptions = { ...MISSED_DELIVERIES, ...options.missedDeliveries };
  const sweeps = sweepMissedDeliveries({
    missed: new MissedDeliveries({
      appOctokit: github.appOctokit,
      deliveries: store.coordination,
      now: () => clock.now(),
      log: github.log,
      options: missedOptions,
    }),
    locks: store.coordination,
    owner: orchestratorOptions.owner,
    clock,
    intervalMs: missedOptions.intervalMs,
    log: github.log,
  });
  return {
    url,
    server,
    service,
    store,
    pool,
    close: async (drainMs = 0) => {
      await sweeps.stop();
      await service.stop({ drainMs });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!options.store) await store.close();
    },
  };
}

/** What kto's routes work with, from the App's settings: who may read, how runners' reports are verified, and whether runners may register. */
function routesDeps(deps: {
  settings: AppSettings;
  github: GitHubClient;
  service: RoutesService & Pick<OrchestratorService, "wake">;
  pool: GitHubRunnerPool;
  intake: BodyIntake;
  findRun: FindRun;
  clock: Clock;
  pollMs: number;
  history: ResultHistory;
  bisections: RoutesDeps["bisections"];
}): RoutesDeps {
  const { settings, github, service, pool } = deps;
  const publicUrl = settings.KTO_PUBLIC_URL.replace(/\/$/, "");
  const secret = settings.KTO_RUNNER_REGISTRATION_SECRET;
  const withToken = new TokenRegistration({
    appOctokit: github.appOctokit,
    octokitFor: github.octokitFor,
    tokens: new RegistrationTokens(github.octokitFor, () => deps.clock.now()),
    pool,
    serverUrl: serverUrlOf(settings),
    now: () => deps.clock.now(),
    onRegistered: () => service.wake(),
  });
  return {
    service,
    history: deps.history,
    bisections: deps.bisections,
    intake: deps.intake,
    verify: oidcVerifier({ issuer: settings.KTO_OIDC_ISSUER, jwksUrl: jwksUrl(settings), audience: new URL(publicUrl).origin }),
    runnerWorkflow: settings.KTO_WORKFLOW,
    findRun: deps.findRun,
    readAccess: settings.readAccess,
    rateLimited: () => github.limits.paused(),
    refusedRunners: () => pool.refusedRunners(),
    pollMs: deps.pollMs,
    now: () => deps.clock.now(),
    serverUrl: serverUrlOf(settings),
    dashboard: settings.KTO_DASHBOARD === "on",
    log: github.log,
    ...(secret
      ? {
          registration: {
            secret,
            register: (request) =>
              registerRunner(
                {
                  appOctokit: github.appOctokit,
                  octokitFor: github.octokitFor,
                  pool,
                  onRegistered: async (home, runner, installationId) => {
                    await pool.registered(home, runner, installationId);
                    service.wake();
                  },
                },
                request,
              ),
            grant: (request) => withToken.grant(request),
            record: (report) => withToken.record(report),
          },
        }
      : {}),
  };
}

function warnIfStateUnreadable(settings: AppSettings, log: GitHubClient["log"]): void {
  if (settings.readAccess.kind === "token" && settings.readAccess.token === null) {
    log.warn(
      "kto: the dashboard, /kto/status and /kto/metrics answer 401: set KTO_READ_TOKEN to read them (or KTO_READ_ACCESS=public where the App is not reachable from outside)",
    );
  }
}

/** Listens on the App's host and port; the URL to reach it at. */
async function listen(server: Server, settings: AppSettings): Promise<string> {
  await new Promise<void>((resolve) => server.listen(settings.PORT, settings.HOST, resolve));
  const address = server.address() as AddressInfo;
  return `http://${address.address === "0.0.0.0" ? "127.0.0.1" : address.address}:${address.port}`;
}
