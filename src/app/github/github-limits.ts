import { DeferredError } from "../../orchestrator/outbox-worker.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import type { Octokit } from "./github-api.js";

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
 * retry-after says.
 */
export const SECONDARY_PAUSE_MS = 60_000;

/** How much of GitHub's secondary limits kto lets itself spend, per installation. */
export interface Budget {
  pointsPerMinute: number;
  contentPerMinute: number;
  contentPerHour: number;
}

/**
 * A tenth below GitHub's documented 900 points a minute and 80 and 500 content-creating
 * requests a minute and an hour: kto counts when it sends, GitHub when it receives.
 */
export const KTO_BUDGET: Readonly<Budget> = { pointsPerMinute: 810, contentPerMinute: 72, contentPerHour: 450 };

const MINUTE = 60_000;
const HOUR = 3_600_000;

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

interface InstallationState {
  pausedUntil: number;
  pausedBy: LimitKind | null;
  points: { at: number; points: number }[];
  content: number[];
}

export interface GitHubLimitsOptions {
  now: () => number;
  /** Null: no budget of kto's own (against a local double); GitHub's answers are still honoured. */
  budget: Budget | null;
  log?: { warn(fields: Record<string, unknown>, message: string): void };
}

type Headers = Record<string, string | number | undefined>;

/**
 * Each installation's standing with GitHub's rate limits: paused after a limit answer, or
 * an answer that leaves no requests before the reset, until GitHub said to come back; and,
 * with a budget, kept below the secondary limits by counting what it sends.
 */
export class GitHubLimits {
  private readonly installations = new Map<number, InstallationState>();

  constructor(private readonly options: GitHubLimitsOptions) {}

  private stateOf(installationId: number): InstallationState {
    let state = this.installations.get(installationId);
    if (!state) {
      state = { pausedUntil: 0, pausedBy: null, points: [], content: [] };
      this.installations.set(installationId, state);
    }
    return state;
  }

  /** Installations whose requests wait now. */
  paused(): number {
    const now = this.options.now();
    return [...this.installations.values()].filter((s) => s.pausedUntil > now).length;
  }

  /** Throws RateLimitError, sending nothing, while the installation must wait; otherwise counts the request as sent. */
  admit(installationId: number, method: string, url: string): void {
    const now = this.options.now();
    const state = this.stateOf(installationId);
    if (state.pausedUntil > now)
      throw new RateLimitError(
        installationId,
        state.pausedBy ?? "secondary",
        state.pausedUntil,
        `GitHub asked installation ${installationId} to wait (${state.pausedBy} rate limit) until ${new Date(state.pausedUntil).toISOString()}`,
      );
    const budget = this.options.budget;
    if (!budget) return;
    state.points = state.points.filter((p) => p.at > now - MINUTE);
    state.content = state.content.filter((at) => at > now - HOUR);
    const points = pointsOf(method);
    const spent = state.points.reduce((sum, p) => sum + p.points, 0);
    const over = (freeAt: number, what: string) =>
      new RateLimitError(
        installationId,
        "budget",
        freeAt,
        `installation ${installationId} has spent kto's budget of ${what}; its requests wait until ${new Date(freeAt).toISOString()}`,
      );
    if (spent + points > budget.pointsPerMinute) {
      let excess = spent + points - budget.pointsPerMinute;
      const freeing = state.points.find((p) => (excess -= p.points) <= 0) ?? state.points.at(-1)!;
      throw over(freeing.at + MINUTE, `${budget.pointsPerMinute} points a minute`);
    }
    if (createsContent(method, url)) {
      const lastMinute = state.content.filter((at) => at > now - MINUTE);
      if (lastMinute.length >= budget.contentPerMinute)
        throw over(lastMinute[lastMinute.length - budget.contentPerMinute]! + MINUTE, `${budget.contentPerMinute} content-creating requests a minute`);
      if (state.content.length >= budget.contentPerHour)
        throw over(state.content[state.content.length - budget.contentPerHour]! + HOUR, `${budget.contentPerHour} content-creating requests an hour`);
      state.content.push(now);
    }
    state.points.push({ at: now, points });
  }

  /** An answer that leaves no request before x-ratelimit-reset pauses the installation until then. */
  answered(installationId: number, headers: Headers): void {
    if (String(headers["x-ratelimit-remaining"]) !== "0") return;
    const reset = Number(headers["x-ratelimit-reset"]);
    if (reset > 0) this.pause(installationId, "primary", reset * 1000 + 1000);
  }

  /**
   * A failed request as kto handles it: GitHub's rate limit answer (403 or 429, with its
   * message and headers) pauses the installation and becomes a RateLimitError; anything
   * else is returned as it came.
   */
  refused(installationId: number, error: unknown): unknown {
    const status = httpStatusOf(error);
    const { message, response } = error as { message?: string; response?: { headers?: Headers } };
    const headers = response?.headers ?? {};
    // Any answer, a 404 as much as a 200, can be the one that leaves no requests.
    this.answered(installationId, headers);
    if (status !== 403 && status !== 429) return error;
    const now = this.options.now();
    const retryAfterMs = Number(headers["retry-after"]) * 1000 || 0;
    const remaining = headers["x-ratelimit-remaining"] === undefined ? undefined : String(headers["x-ratelimit-remaining"]);
    let until: number;
    let limit: LimitKind;
    if (/secondary rate limit/i.test(message ?? "") || (status === 429 && remaining !== "0")) {
      limit = "secondary";
      until = now + Math.max(SECONDARY_PAUSE_MS, retryAfterMs);
    } else if (remaining === "0") {
      limit = "primary";
      // One second past the reset, so the first request after it is not early by GitHub's clock.
      until = Math.max(Number(headers["x-ratelimit-reset"]) * 1000 + 1000 || 0, now + retryAfterMs, now + 1000);
    } else {
      return error; // a 403 that refuses the request itself (a missing permission)
    }
    this.pause(installationId, limit, until);
    const state = this.stateOf(installationId);
    return new RateLimitError(
      installationId,
      limit,
      state.pausedUntil,
      `GitHub's ${limit} rate limit (${status}): installation ${installationId} waits until ${new Date(state.pausedUntil).toISOString()}: ${message}`,
    );
  }

  private pause(installationId: number, limit: LimitKind, until: number): void {
    const state = this.stateOf(installationId);
    if (until <= state.pausedUntil) return;
    state.pausedUntil = until;
    state.pausedBy = limit;
    this.options.log?.warn(
      { installationId, limit, until: new Date(until).toISOString() },
      `kto: GitHub's ${limit} rate limit: installation ${installationId} sends nothing until ${new Date(until).toISOString()}`,
    );
  }
}

/**
 * The Octokit plugin that puts every request of an installation through `limits`: held
 * back while the installation waits, its answer's headers read, a rate limit answer turned
 * into a RateLimitError. The App's own requests (its JWT) have limits of their own.
 */
export function limitsPlugin(limits: GitHubLimits) {
  return (octokit: Octokit, options: { auth?: unknown }): void => {
    const installationId = Number((options.auth as { installationId?: unknown } | undefined)?.installationId);
    if (!installationId) return;
    octokit.hook.wrap("request", async (request, endpoint) => {
      limits.admit(installationId, endpoint.method, endpoint.url);
      try {
        const response = await request(endpoint);
        limits.answered(installationId, response.headers);
        return response;
      } catch (error) {
        throw limits.refused(installationId, error);
      }
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
