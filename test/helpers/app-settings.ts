import { generateKeyPairSync } from "node:crypto";
import type { AppSettings } from "../../src/app/settings.js";

/** Settings for an App that talks to the GitHub API double at `githubUrl` (served as GHES over plain HTTP). */
export function doubleAppSettings(githubUrl: string, overrides: Partial<AppSettings> & Pick<AppSettings, "WEBHOOK_SECRET">): AppSettings {
  return {
    APP_ID: "1",
    PRIVATE_KEY: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString(),
    PORT: 0,
    HOST: "127.0.0.1",
    GHE_HOST: new URL(githubUrl).host,
    GHE_PROTOCOL: "http",
    KTO_PUBLIC_URL: "https://kto.example.com",
    KTO_OIDC_ISSUER: "https://token.actions.example",
    KTO_WORKFLOW: "kto-runner.yml",
    KTO_RUNNER_SYNC_SECONDS: 60,
    KTO_LEASE_SECONDS: 30,
    KTO_GITHUB_THROTTLE: "on",
    KTO_DASHBOARD: "on",
    KTO_RETENTION: 30 * 86_400_000,
    // Tests read the App's status and dashboard as an operator on a private network would.
    readAccess: { kind: "public" },
    ...overrides,
  };
}
