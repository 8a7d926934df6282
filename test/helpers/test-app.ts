import { randomUUID } from "node:crypto";
import { startApp, WEBHOOKS_PATH, type RunningApp, type StartOptions } from "../../src/app/server.js";
import type { AppSettings } from "../../src/app/settings.js";
import { doubleAppSettings } from "./app-settings.js";
import { deliverWebhook } from "./github-double/hook-deliveries.js";
import { startGitHubApiDouble, type GitHubApiDouble, type GitHubApiDoubleOptions } from "./github-api-double.js";
import { startOidcIssuer, type OidcIssuer } from "./oidc-issuer.js";
import { freshStore } from "./stores.js";

/** The webhook secret of a test App, unless its settings name another. */
export const WEBHOOK_SECRET = "webhook-secret";
/** Where a test App says it is public: its runs' OIDC audience is this origin. */
export const PUBLIC_URL = "https://kto.example.com";

export interface TestAppOptions {
  /** A GitHub API double the App talks to, which the caller closes; else a new one, made with `double`. */
  github?: GitHubApiDouble;
  double?: GitHubApiDoubleOptions;
  /** Which of the double's APIs the App talks to: GHES's /api/v3 (the default), or github.com's. */
  server?: "ghes" | "github.com";
  /** Settings over the double's (`doubleAppSettings`), this file's secret and OIDC issuer. */
  settings?: Partial<AppSettings>;
  /** startApp's options over a test's: a fresh SQLite store, a quiet log, no throttling, polls every 100 ms. */
  start?: StartOptions;
}

export interface TestApp {
  app: RunningApp;
  github: GitHubApiDouble;
  /** The Actions OIDC issuer the App trusts: it signs a run's tokens. */
  issuer: OidcIssuer;
  /** Delivers a webhook as GitHub does, signed and logged in the double's delivery log (a new delivery id unless `id` is given); the App's status, 0 if unreachable. */
  deliver(event: string, payload: unknown, id?: string): Promise<number>;
  /** POSTs a run's event for `jobId` with `bearer` as its token; a string body goes as it is. */
  runEvent(jobId: string, bearer: string, body: unknown): Promise<Response>;
  /** Closes the App, its store and issuer, and the double if it made it. */
  close(): Promise<void>;
}

/** The App in this process, against the GitHub API double, with a store and an OIDC issuer of its own. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const github = options.github ?? (await startGitHubApiDouble(options.double));
  const issuer = await startOidcIssuer();
  const fresh = await freshStore("sqlite");
  const settings = doubleAppSettings(
    github.url,
    {
      WEBHOOK_SECRET,
      KTO_PUBLIC_URL: PUBLIC_URL,
      KTO_OIDC_ISSUER: issuer.url,
      KTO_OIDC_JWKS_URL: issuer.jwksUrl,
      ...options.settings,
    },
    options.server,
  );
  const app = await startApp(settings, {
    store: fresh.store,
    logLevel: "fatal",
    throttle: false,
    runLookupDelayMs: 50,
    ...options.start,
    orchestrator: { pollMs: 100, outboxPollMs: 100, lockTtlMs: 2_000, ...options.start?.orchestrator },
  });
  // GitHub sends the App's webhooks, and its redeliveries, to the App's one webhook URL: the first App started against the double.
  const target = { url: `${app.url}${WEBHOOKS_PATH}`, secret: settings.WEBHOOK_SECRET };
  github.state.webhookTarget ??= target;
  return {
    app,
    github,
    issuer,
    deliver: (event, payload, id = randomUUID()) =>
      deliverWebhook(github.state, target, { event, body: typeof payload === "string" ? payload : JSON.stringify(payload), guid: id }),
    runEvent: (jobId, bearer, body) =>
      fetch(`${app.url}/kto/api/jobs/${encodeURIComponent(jobId)}/events`, {
        method: "POST",
        headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    close: async () => {
      if (github.state.webhookTarget === target) github.state.webhookTarget = null;
      await app.close();
      await fresh.dispose();
      await issuer.close();
      if (!options.github) await github.close();
    },
  };
}
