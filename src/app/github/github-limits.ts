import { DeferredError } from "../../orchestrator/outbox-worker.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import type { Octokit } from "./github-api.js";
import type { GitHubBudgetRepository, SpendLimits, Standing } from "../../orchestrator/store/github-budget-repository.js";

/** Which limit held a request back: GitHub's hourly one, a secondary one, or kto's own budget below them. */
export type LimitKind = "primary" | "secondary" | "budget";

/**
 * An installation's request that GitHub refused for a rate limit, or that kto did not send
 * because GitHub asked the installation to wait or kto's budget is spent: either way
 * nothing happened, and the request may go again at `retryAt`.
 */
export class RateLimitError extends DeferredError {
  override readonly name = "RateLimitError";
  constructor(
    readonly installationId: number,
    readonly limit: LimitKind,
    retryAt: number,
    message: string,
  ) {
    super(message, retryAt);
  }
}

/**
 * After a secondary limit, GitHub asks for at least a minute when it sends no retry-after,
 * and may ban an integration that keeps sending: kto waits at least that long, whatever
 * retry-after says, and twice as long each time GitHub answers so again after a pause.
 */
export const SECONDARY_PAUSE_MS = 60_000;
/** The longest a secondary limit's backoff grows: GitHub's windows are an hour at most. */
export const SECONDARY_PAUSE_CAP_MS = 3_600_000;
/** A secondary limit this long after the last pause ended starts the backoff over at a minute. */
export const SECONDARY_QUIET_MS = 15 * 60_000;

/**
 * The id the App's own calls (with its JWT: /app, its installations, its hook's deliveries,
 * installation tokens) are counted under: GitHub counts them against the App, not an
 * installation, and installations' ids are positive.
 */
export const APP_CALLS = 0;

/** How much of GitHub's secondary limits kto lets itself spend, per installation. */
export type Budget = SpendLimits;

/**
 * A tenth below GitHub's documented 900 points a minute and 80 and 500 content-creating
 * requests a minute and an hour: kto counts when it sends, GitHub when it receives.
 */
export const KTO_BUDGET: Readonly<Budget> = { pointsPerMinute: 810, contentPerMinute: 72, contentPerHour: 450 };

/** GitHub's points: a read costs 1, anything else 5. */
function pointsOf(method: string): number {
  return ["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase()) ? 1 : 5;
}

/**
 * GitHub does not list what its content creation limit counts: kto counts every POST and
 * PUT that is not a cancel (check runs, dispatches, branches, files, pull requests,
 * runners), erring towards the limit.
 */
function createsContent(method: string, url: string): boolean {
  return ["POST", "PUT"].includes(method.toUpperCase()) && !url.endsWith("/cancel");
}

/** The calls GitHub takes only with the App's JWT (as @octokit/auth-app sends them). */
const APP_PATHS = /^(?:\/app(?:\/|$)|\/marketplace_listing\/|\/(?:orgs|users|enterprises)\/[^/]+\/installation$|\/repos\/[^/]+\/[^/]+\/installation$)/i;

/** Whose limits a request spends: the App's for its JWT calls, else the installation's. */
export function limitsHolder(installationId: number | undefined, url: string): number {
  const path = url
    .replace(/^https?:\/\/[^/]+/, "")
    .replace(/^\/api\/v3(?=\/)/, "")
    .split("?")[0]!;
  return !installationId || APP_PATHS.test(path) ? APP_CALLS : installationId;
}

export interface GitHubLimitsOptions {
  /** Where the pauses and spends live, shared by every replica on the store. */
  store: Pick<GitHubBudgetRepository, "standing" | "spend" | "changeStanding" | "pausedInstallations">;
  now: () => number;
  /** Null: no budget of kto's own (against a local double); GitHub's answers are still honoured. */
  budget: Budget | null;
  log?: { warn(fields: Record<string, unknown>, message: string): void };
}

type Headers = Record<string, string | number | undefined>;

const BUDGET_NAMES: Record<keyof Budget, (budget: Budget) => string> = {
  pointsPerMinute: (b) => `${b.pointsPerMinute} points a minute`,
  contentPerMinute: (b) => `${b.contentPerMinute} content-creating requests a minute`,
  contentPerHour: (b) => `${b.contentPerHour} content-creating requests an hour`,
};

/**
 * Each installation's standing with GitHub's rate limits, kept in the store so that every
 * replica and the next process see it: paused after a limit answer, or an answer that
 * leaves no requests before the reset, until GitHub said to come back; and, with a budget,
 * kept below the secondary limits by counting what it sends. The App's own calls have a
 * standing of their own (APP_CALLS).
 */
export class GitHubLimits {
  constructor(private readonly options: GitHubLimitsOptions) {}

  /** Installations whose requests wait now. */
  paused(): Promise<number> {
    return this.options.store.pausedInstallations(this.options.now());
  }

  /**
   * Throws RateLimitError, sending nothing, while the installation must wait; otherwise
   * counts the request as sent and says when.
   */
  async admit(installationId: number, method: string, url: string): Promise<number> {
    const now = this.options.now();
    const budget = this.options.budget;
    const refusal = budget
      ? await this.options.store.spend(installationId, now, { points: pointsOf(method), createsContent: createsContent(method, url) }, budget)
      : await this.options.store.standing(installationId).then((standing) => (standing.pausedUntil > now ? ({ reason: "paused", standing } as const) : null));
    if (!refusal) return now;
    const who = installationId === APP_CALLS ? "the App" : `installation ${installationId}`;
    if (refusal.reason === "paused") {
      const { pausedBy, pausedUntil } = refusal.standing;
      throw new RateLimitError(
        installationId,
        pausedBy ?? "secondary",
        pausedUntil,
        `GitHub asked ${who} to wait (${pausedBy} rate limit) until ${new Date(pausedUntil).toISOString()}`,
      );
    }
    throw new RateLimitError(
      installationId,
      "budget",
      refusal.freeAt,
      `${who} has spent kto's budget of ${BUDGET_NAMES[refusal.reason](budget!)}; its requests wait until ${new Date(refusal.freeAt).toISOString()}`,
    );
  }

  /** An answer that leaves no request before x-ratelimit-reset pauses the installation until then. */
  async answered(installationId: number, headers: Headers): Promise<void> {
    if (String(headers["x-ratelimit-remaining"]) !== "0") return;
    const reset = Number(headers["x-ratelimit-reset"]);
    if (reset > 0) await this.pausePrimary(installationId, reset * 1000 + 1000);
  }

  /**
   * A failed request as kto handles it: GitHub's rate limit answer (403 or 429, with its
   * message and headers) pauses the installation and becomes a RateLimitError; anything
   * else is returned as it came. `sentAt` is when the request was admitted: an answer to a
   * request sent before the last secondary pause ended belongs to that pause.
   */
  async refused(installationId: number, error: unknown, sentAt: number): Promise<unknown> {
    const status = httpStatusOf(error);
    const { message, response } = error as { message?: string; response?: { headers?: Headers } };
    const headers = response?.headers ?? {};
    // Any answer, a 404 as much as a 200, can be the one that leaves no requests.
    await this.answered(installationId, headers);
    if (status !== 403 && status !== 429) return error;
    const now = this.options.now();
    const retryAfterMs = Number(headers["retry-after"]) * 1000 || 0;
    const remaining = headers["x-ratelimit-remaining"] === undefined ? undefined : String(headers["x-ratelimit-remaining"]);
    let standing: Standing;
    let limit: LimitKind;
    if (/secondary rate limit/i.test(message ?? "") || (status === 429 && remaining !== "0")) {
      limit = "secondary";
      standing = await this.pauseSecondary(installationId, now, sentAt, retryAfterMs);
    } else if (remaining === "0") {
      limit = "primary";
      // One second past the reset, so the first request after it is not early by GitHub's clock.
      standing = await this.pausePrimary(installationId, Math.max(Number(headers["x-ratelimit-reset"]) * 1000 + 1000 || 0, now + retryAfterMs, now + 1000));
    } else {
      return error; // a 403 that refuses the request itself (a missing permission)
    }
    const who = installationId === APP_CALLS ? "the App" : `installation ${installationId}`;
    return new RateLimitError(
      installationId,
      limit,
      standing.pausedUntil,
      `GitHub's ${limit} rate limit (${status}): ${who} waits until ${new Date(standing.pausedUntil).toISOString()}: ${message}`,
    );
  }

  private pausePrimary(installationId: number, until: number): Promise<Standing> {
    return this.change(installationId, "primary", (s) => (until > s.pausedUntil ? { ...s, pausedUntil: until, pausedBy: "primary" } : s));
  }

  /**
   * Backs off: a minute, then twice as long for each secondary limit answered to a request
   * sent after the last pause ended, up to an hour; after a quiet while, a minute again.
   * Retry-after counts when it asks for longer.
   */
  private pauseSecondary(installationId: number, now: number, sentAt: number, retryAfterMs: number): Promise<Standing> {
    return this.change(installationId, "secondary", (s) => {
      const again = sentAt >= s.secondaryUntil;
      const strikes = !again
        ? Math.max(1, s.secondaryStrikes)
        : s.secondaryStrikes > 0 && sentAt - s.secondaryUntil < SECONDARY_QUIET_MS
          ? s.secondaryStrikes + 1
          : 1;
      const backoff = Math.min(SECONDARY_PAUSE_CAP_MS, SECONDARY_PAUSE_MS * 2 ** (strikes - 1));
      const until = Math.max(now + Math.max(backoff, retryAfterMs), again ? 0 : s.secondaryUntil);
      return {
        secondaryStrikes: strikes,
        secondaryUntil: until,
        pausedUntil: Math.max(until, s.pausedUntil),
        pausedBy: until >= s.pausedUntil ? "secondary" : s.pausedBy,
      };
    });
  }

  private async change(installationId: number, limit: LimitKind, change: (standing: Standing) => Standing): Promise<Standing> {
    let before = 0;
    const standing = await this.options.store.changeStanding(installationId, (s) => ((before = s.pausedUntil), change(s)));
    if (standing.pausedUntil > before) {
      const until = new Date(standing.pausedUntil).toISOString();
      const who = installationId === APP_CALLS ? "the App" : `installation ${installationId}`;
      this.options.log?.warn({ installationId, limit, until }, `kto: GitHub's ${limit} rate limit: ${who} sends nothing until ${until}`);
    }
    return standing;
  }
}

/**
 * The Octokit plugin that puts every request through `limits`: held back while its
 * installation (or, for the App's own calls, the App) waits or has spent its budget, its
 * answer's headers read, a rate limit answer turned into a RateLimitError. It must run
 * after Octokit's throttling has let the request go (see github-client.ts): a request
 * queued behind a write that GitHub refused is then checked as it leaves, not before.
 */
export function limitsPlugin(limits: GitHubLimits) {
  return (octokit: Octokit, options: { auth?: unknown }): void => {
    const installationId = Number((options.auth as { installationId?: unknown } | undefined)?.installationId) || undefined;
    octokit.hook.wrap("request", async (request, endpoint) => {
      const holder = limitsHolder(installationId, endpoint.url);
      const sentAt = await limits.admit(holder, endpoint.method, endpoint.url);
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(endpoint);
      } catch (error) {
        throw await limits.refused(holder, error, sentAt);
      }
      await limits.answered(holder, response.headers);
      return response;
    });
  };
}

/** An answer worth waiting for: GitHub failing (5xx), unreachable, or asking to wait. */
function transient(error: unknown): boolean {
  const status = httpStatusOf(error);
  return error instanceof RateLimitError || status === undefined || status >= 500;
}

export interface ReadRetryOptions {
  attempts: number;
  baseDelayMs: number;
  /** Longer than this, a rate limit's wait fails the read instead (the webhook can be redelivered). */
  maxWaitMs: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/**
 * Makes an octokit retry its reads (GETs) that failed for a reason that passes: a webhook
 * handler has no outbox behind it, and one 502 reading the config would lose the run.
 * Writes are left alone: a handler's writes are not all safe to repeat.
 */
export function retryReads(octokit: Octokit, options: ReadRetryOptions): Octokit {
  octokit.hook.wrap("request", async (request, endpoint) => {
    if (endpoint.method.toUpperCase() !== "GET") return request(endpoint);
    for (let attempt = 1; ; attempt++) {
      try {
        return await request(endpoint);
      } catch (error) {
        const wait = error instanceof RateLimitError ? error.retryAt - options.now() : options.baseDelayMs * 2 ** (attempt - 1);
        if (attempt >= options.attempts || !transient(error) || wait > options.maxWaitMs) throw error;
        await options.sleep(Math.max(0, wait));
      }
    }
  });
  return octokit;
}
