import { Probot, ProbotOctokit } from "probot";
import type { Clock } from "../../orchestrator/clock.js";
import type { Store } from "../../orchestrator/store/store.js";
import { asOctokit, type Octokit, type OctokitFor } from "./github-api.js";
import { GitHubLimits, KTO_BUDGET, limitsPlugin } from "./github-limits.js";
import { payloadFreeLog, type LogLevel } from "./payload-free-log.js";
import { apiBaseUrl, type AppSettings } from "../settings.js";

/** The App's way to GitHub: Probot (its webhooks and log), its octokits, and the rate limits they keep. */
export interface GitHubClient {
  probot: Probot;
  log: Probot["log"];
  limits: GitHubLimits;
  /** The App's own octokit, authenticated as the App rather than an installation. */
  appOctokit: () => Promise<Octokit>;
  octokitFor: OctokitFor;
  /** The App's own user, whose runs are the only ones kto takes for its dispatches. */
  botLogin: () => Promise<string>;
}

export async function githubClient(
  settings: AppSettings,
  options: { clock: Clock; throttled: boolean; budget?: boolean; logLevel: LogLevel; store: Pick<Store, "githubBudget"> },
): Promise<GitHubClient> {
  const { clock, throttled } = options;
  const log = await payloadFreeLog(settings, options.logLevel);
  // GitHub's answers are honoured always; kto's own budget only where GitHub's limits apply.
  const limits: GitHubLimits = new GitHubLimits({
    store: options.store.githubBudget,
    now: () => clock.now(),
    budget: (options.budget ?? throttled) ? KTO_BUDGET : null,
    log: { warn: (fields, message) => probot.log.warn(fields, message) },
  });
  const probot = new Probot({
    appId: settings.APP_ID,
    privateKey: settings.PRIVATE_KEY,
    secret: settings.WEBHOOK_SECRET,
    baseUrl: apiBaseUrl(settings),
    log,
    Octokit: throttledOctokit(limits, throttled),
  });
  const appOctokit = async () => asOctokit(await probot.auth());
  return {
    probot,
    log: probot.log,
    limits,
    appOctokit,
    octokitFor: async (installationId) => asOctokit(await probot.auth(installationId)),
    botLogin: cachedUntilFailed(async () => {
      const { data } = await (await appOctokit()).rest.apps.getAuthenticated();
      return `${data?.slug}[bot]`;
    }),
  };
}

/**
 * Retries of GitHub calls are the outbox's (with idempotency keys) or, for a webhook's
 * reads, retryReads'; rate limits are kto's (limitsPlugin): Octokit's throttling only
 * paces writes, a second apart per installation, and retries nothing itself. The
 * function form runs after Probot's own defaults, so it has the last word.
 *
 * Octokit runs the hook of the plugin listed first closest to the wire: kto's limits are
 * listed before Probot's plugins (throttling among them), so a write that waited in the
 * throttling queue is checked as it leaves it, and one queued behind a write GitHub
 * refused is not sent. Octokit.plugin() can only append, hence the list set here.
 */
function throttledOctokit(limits: GitHubLimits, throttled: boolean): typeof ProbotOctokit {
  const limitsFirst = class extends ProbotOctokit {
    static override plugins = [limitsPlugin(limits) as (typeof ProbotOctokit.plugins)[number], ...ProbotOctokit.plugins];
  };
  return limitsFirst.defaults((instance: Record<string, unknown>) => {
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
  }) as typeof ProbotOctokit;
}

/** Asks once and keeps the answer; a failure is not kept, so the next call asks again. */
function cachedUntilFailed<T>(ask: () => Promise<T>): () => Promise<T> {
  let answer: Promise<T> | null = null;
  return () =>
    (answer ??= ask().catch((error: unknown) => {
      answer = null;
      throw error;
    }));
}
