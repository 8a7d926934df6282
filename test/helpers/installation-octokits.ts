import { generateKeyPairSync } from "node:crypto";
import { Probot, ProbotOctokit } from "probot";
import type { Octokit, OctokitFor } from "../../src/app/github/github-api.js";
import { InstallationGrants } from "../../src/app/github/installation-grants.js";
import type { GitHubApiDouble } from "./github-api-double.js";

/** The App's private key: the double checks no signature, so one serves every test in the file. */
let appKey: string | undefined;

/**
 * The App's installations against the GitHub API double, as the App makes them: a JWT for
 * the App, a token per installation. Octokit neither retries nor throttles: what a test
 * counts is what kto sent. The double checks each request against the description of the
 * server it is sent to: GitHub Enterprise Server (under /api/v3, as the App's tests run
 * it) or github.com.
 */
export function installationOctokits(github: GitHubApiDouble, server: "ghes" | "github.com" = "ghes"): OctokitFor {
  const probot = appProbot(github, server);
  return async (installationId) => (await probot.auth(installationId)) as unknown as Octokit;
}

/** What each installation was granted, read as the App reads it: with its JWT, from the double. */
export function installationGrants(github: GitHubApiDouble, now: () => number = Date.now, server: "ghes" | "github.com" = "ghes"): InstallationGrants {
  const probot = appProbot(github, server);
  return new InstallationGrants(async () => (await probot.auth()) as unknown as Octokit, now);
}

function appProbot(github: GitHubApiDouble, server: "ghes" | "github.com"): Probot {
  return new Probot({
    appId: 1,
    privateKey: (appKey ??= generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString()),
    baseUrl: server === "ghes" ? `${github.url}/api/v3` : github.url,
    logLevel: "fatal",
    // The function form runs after Probot's own defaults, which would pace writes a second apart.
    Octokit: ProbotOctokit.defaults((instance: Record<string, unknown>) => ({
      ...instance,
      retry: { enabled: false },
      throttle: { enabled: false },
    })) as typeof ProbotOctokit,
  });
}
