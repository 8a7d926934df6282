import { generateKeyPairSync } from "node:crypto";
import type { AppSettings } from "../../src/app/settings.js";

/** Settings for an App that talks to the GitHub API double at `githubUrl` (served as GHES over plain HTTP). */
/**
 * Settings for an App against the double at `githubUrl`: as a GitHub Enterprise Server
 * (its /api/v3, checked against GHES's description) or, with `server: "github.com"`, as
 * github.com behind a proxy (checked against github.com's).
 */
export function doubleAppSettings(
  githubUrl: string,
  overrides: Partial<AppSettings> & Pick<AppSettings, "WEBHOOK_SECRET">,
  server: "ghes" | "github.com" = "ghes",
): AppSettings {
  const where = server === "ghes" ? { GHE_HOST: new URL(githubUrl).host } : { KTO_GITHUB_API_URL: githubUrl };
  return {
    APP_ID: "1",
    PRIVATE_KEY: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    PORT: 0,
    HOST: "127.0.0.1",
    ...where,
    GHE_PROTOCOL: "http",
    KTO_PUBLIC_URL: "https://kto.example.com",
    KTO_OIDC_ISSUER: "https://token.actions.example",
    KTO_WORKFLOW: "kto-runner.yml",
    KTO_RUNNER_SYNC_SECONDS: 60,
    KTO_LEASE_SECONDS: 30,
    KTO_DISPATCH_BATCH: 256,
    KTO_DISPATCH_GATHER_SECONDS: 0,
    KTO_GITHUB_THROTTLE: "on",
    KTO_DASHBOARD: "on",
    KTO_RETENTION: 30 * 86_400_000,
    KTO_HISTORY_RETENTION: 90 * 86_400_000,
    // Tests read the App's status and dashboard as an operator on a private network would.
    readAccess: { kind: "public" },
    ...overrides,
  };
}
