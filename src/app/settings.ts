import { z } from "zod";
import { parseDuration } from "../config/duration.js";

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\])$/;

/**
 * Who may read the App's state (dashboard, status, metrics): everyone who reaches it, or
 * holders of the read token. `token: null` means no token is set, so nobody may.
 */
export type ReadAccess = { kind: "public" } | { kind: "token"; token: string | null };

/** The App's settings: Probot's usual variables plus kto's, each checked at start. */
const schema = z.object({
  APP_ID: z.string().regex(/^\d+$/, "the numeric App ID from the App's settings page"),
  PRIVATE_KEY: z.string().includes("PRIVATE KEY", { message: "the App's PEM private key (PRIVATE_KEY, or PRIVATE_KEY_PATH to a file)" }),
  WEBHOOK_SECRET: z.string().min(1, "the webhook secret set on the App"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  GHE_HOST: z.string().optional(),
  GHE_PROTOCOL: z.enum(["http", "https"]).default("https"),
  /**
   * github.com's REST API reached at another URL (an egress proxy that forwards to
   * api.github.com): kto keeps to github.com's API and limits, only the address changes.
   */
  KTO_GITHUB_API_URL: z.string().url("the URL that forwards to https://api.github.com").optional(),
  /** The URL runners reach the App at: reports are POSTed there and OIDC tokens name it as audience. */
  KTO_PUBLIC_URL: z.string().url("the App's public URL, as runners reach it (e.g. https://kto.example.com)"),
  KTO_DATA_DIR: z.string().optional(),
  DATABASE_URL: z.string().optional(),
  KTO_OIDC_ISSUER: z.string().url().default("https://token.actions.githubusercontent.com"),
  KTO_OIDC_JWKS_URL: z.string().url().optional(),
  /** The file name, in .github/workflows, of the runner workflow: reports must come from a run of it. */
  KTO_WORKFLOW: z
    .string()
    .regex(/^[\w.-]+\.ya?ml$/, "the runner workflow's file name in .github/workflows (e.g. kto-runner.yml)")
    .default("kto-runner.yml"),
  /** How often the runner pool is listed again besides workflow_job events. */
  KTO_RUNNER_SYNC_SECONDS: z.coerce.number().min(1).default(60),
  /** At most how many jobs of a plan one run of the runner workflow carries as its matrix (GitHub allows 256); 1 dispatches each job alone. */
  KTO_DISPATCH_BATCH: z.coerce.number().int().min(1).max(256, "GitHub's matrix holds at most 256 jobs").default(256),
  /** How long the queue waits after leasing before it leases again, so jobs freed meanwhile share a run; longer, up to a minute, as the hour's content-creating budget fills. */
  KTO_DISPATCH_GATHER_SECONDS: z.coerce.number().min(0).max(60, "at most 60 (a minute, GitHub's shortest limit window)").default(3),
  /** How long the queue leader's lease lasts: another replica (or a restart) takes over this long after a crash. */
  KTO_LEASE_SECONDS: z.coerce.number().min(1).default(30),
  /** Octokit's write throttling; "off" only against a GitHub Enterprise Server without rate limits, or a local double. */
  KTO_GITHUB_THROTTLE: z.enum(["on", "off"]).default("on"),
  /** The dashboard at /kto lists repositories and job names: "off" where that must not be public. */
  KTO_DASHBOARD: z.enum(["on", "off"]).default("on"),
  /** Read routes (dashboard, status, metrics) answer only `Authorization: Bearer <token>` (or HTTP Basic with it as the password). */
  KTO_READ_TOKEN: z.string().min(32, "at least 32 characters (openssl rand -hex 32)").optional(),
  /** "public" serves read routes to anyone who reaches the App, "token" to KTO_READ_TOKEN only; unset, a local-only App is public. */
  KTO_READ_ACCESS: z.enum(["public", "token"]).optional(),
  /** How long finished plans are kept in the store, as for the CLI. */
  KTO_RETENTION: z
    .string()
    .default("30d")
    .transform((text, context) => {
      const ms = parseDuration(text);
      if (ms !== null) return ms;
      context.addIssue({ code: z.ZodIssueCode.custom, message: `a duration like 30d or 12h, not "${text}"` });
      return z.NEVER;
    }),
  /** How long test results are kept as history (what later runs are compared with, what the dashboard draws). */
  KTO_HISTORY_RETENTION: z
    .string()
    .default("90d")
    .transform((text, context) => {
      const ms = parseDuration(text);
      if (ms !== null) return ms;
      context.addIssue({ code: z.ZodIssueCode.custom, message: `a duration like 90d or 12h, not "${text}"` });
      return z.NEVER;
    }),
  /** Shared with runner hosts, which register just-in-time runners through the App; unset turns registration off. */
  KTO_RUNNER_REGISTRATION_SECRET: z.string().min(32, "at least 32 characters (openssl rand -hex 32)").optional(),
});

const settingsSchema = schema
  .refine((s) => !(s.GHE_HOST && s.KTO_GITHUB_API_URL), {
    message: "set GHE_HOST for GitHub Enterprise Server or KTO_GITHUB_API_URL for github.com through a proxy, not both",
    path: ["KTO_GITHUB_API_URL"],
  })
  .refine((s) => !(s.KTO_READ_ACCESS === "public" && s.KTO_READ_TOKEN), {
    path: ["KTO_READ_ACCESS"],
    message: "public with KTO_READ_TOKEN set: unset one of them",
  })
  .refine((s) => !(s.KTO_READ_ACCESS === "token" && !s.KTO_READ_TOKEN), {
    path: ["KTO_READ_ACCESS"],
    message: "token needs KTO_READ_TOKEN (openssl rand -hex 32)",
  })
  .transform(({ KTO_READ_ACCESS, KTO_READ_TOKEN, ...settings }) => ({ ...settings, readAccess: readAccess(KTO_READ_ACCESS, KTO_READ_TOKEN, settings) }));

/**
 * Webhooks make the App reachable from the internet, so by default its state is read with
 * the token only. An App that listens on loopback and is reached there by its runners
 * too (a webhook proxy, a test bed) is reachable by this machine only: it reads openly.
 */
function readAccess(access: "public" | "token" | undefined, token: string | undefined, settings: { HOST: string; KTO_PUBLIC_URL: string }): ReadAccess {
  if (token) return { kind: "token", token };
  const localOnly = LOOPBACK.test(settings.HOST) && LOOPBACK.test(new URL(settings.KTO_PUBLIC_URL).hostname);
  return access === "public" || localOnly ? { kind: "public" } : { kind: "token", token: null };
}

export type AppSettings = z.output<typeof settingsSchema>;

export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

export function readSettings(env: NodeJS.ProcessEnv, readFile: (path: string) => string): AppSettings {
  const values = { ...env };
  if (!values.PRIVATE_KEY && values.PRIVATE_KEY_PATH) values.PRIVATE_KEY = readFile(values.PRIVATE_KEY_PATH);
  const parsed = settingsSchema.safeParse(values);
  if (!parsed.success) {
    throw new SettingsError(
      parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message === "Required" ? "not set" : issue.message}`).join("\n") +
        "\nSet these in the environment or in .env (see .env.example).",
    );
  }
  return parsed.data;
}

export function apiBaseUrl(settings: Pick<AppSettings, "GHE_HOST" | "GHE_PROTOCOL" | "KTO_GITHUB_API_URL">): string {
  if (settings.GHE_HOST) return `${settings.GHE_PROTOCOL}://${settings.GHE_HOST}/api/v3`;
  return settings.KTO_GITHUB_API_URL?.replace(/\/$/, "") ?? "https://api.github.com";
}

export function jwksUrl(settings: Pick<AppSettings, "KTO_OIDC_ISSUER" | "KTO_OIDC_JWKS_URL">): string {
  return settings.KTO_OIDC_JWKS_URL ?? `${settings.KTO_OIDC_ISSUER.replace(/\/$/, "")}/.well-known/jwks`;
}
