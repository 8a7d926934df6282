/**
 * GitHub's REST rate limits for one installation token, as "Rate limits for the REST API"
 * documents them: the primary limit per hour, and the secondary limits (concurrent
 * requests, points per minute, content creation per minute and per hour).
 */
export interface RateLimits {
  /** Primary: requests per hour (5,000 for an installation; more with many repositories, up to 12,500). */
  perHour: number;
  concurrent: number;
  /** A GET, HEAD or OPTIONS costs 1 point, any other method 5. */
  pointsPerMinute: number;
  contentPerMinute: number;
  contentPerHour: number;
}

export const GITHUB_LIMITS: Readonly<RateLimits> = { perHour: 5_000, concurrent: 100, pointsPerMinute: 900, contentPerMinute: 80, contentPerHour: 500 };

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api";

/**
 * Requests that create something on GitHub. GitHub does not list the endpoints its content
 * creation limit counts; these are the ones kto calls that make a new object (a check run,
 * a workflow run, a branch, a commit, a pull request, a runner), counted so as to err
 * towards the limit.
 */
const CREATES_CONTENT = new Set([
  "checks/create",
  "actions/create-workflow-dispatch",
  "git/create-ref",
  "repos/create-or-update-file-contents",
  "pulls/create",
  "actions/generate-runner-jitconfig-for-repo",
  "actions/generate-runner-jitconfig-for-org",
  "actions/create-registration-token-for-repo",
  "actions/create-registration-token-for-org",
]);

export function createsContent(operationId: string): boolean {
  return CREATES_CONTENT.has(operationId);
}

export function pointsOf(method: string): number {
  return ["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase()) ? 1 : 5;
}

export type Limit = "primary" | "secondary";

export interface LimitAnswer {
  status: 403 | 429;
  body: { message: string; documentation_url: string };
  headers: Record<string, string>;
}

export interface PrimaryWindow {
  limit: number;
  used: number;
  /** When the window resets, in ms. */
  resetAt: number;
}

/** The x-ratelimit-* headers GitHub puts on every answer. */
export function rateLimitHeaders(window: PrimaryWindow): Record<string, string> {
  return {
    "x-ratelimit-limit": String(window.limit),
    "x-ratelimit-remaining": String(Math.max(0, window.limit - window.used)),
    "x-ratelimit-used": String(Math.min(window.used, window.limit)),
    "x-ratelimit-reset": String(Math.ceil(window.resetAt / 1000)),
    "x-ratelimit-resource": "core",
  };
}

/**
 * GitHub's answer to a request over a limit: the primary one names the installation and
 * has no requests remaining until x-ratelimit-reset; a secondary one says so in its
 * message and, when GitHub knows how long, carries retry-after.
 */
export function limitAnswer(limit: Limit, window: PrimaryWindow, options: { who?: string; status?: 403 | 429; retryAfterS?: number } = {}): LimitAnswer {
  const status = options.status ?? 403;
  if (limit === "primary") {
    const headers = rateLimitHeaders({ ...window, used: window.limit });
    if (options.retryAfterS !== undefined) headers["retry-after"] = String(options.retryAfterS);
    return {
      status,
      body: {
        message: `API rate limit exceeded for ${options.who ?? "installation ID 7"}. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.`,
        documentation_url: DOCS,
      },
      headers,
    };
  }
  const headers: Record<string, string> = rateLimitHeaders(window);
  if (options.retryAfterS !== undefined) headers["retry-after"] = String(options.retryAfterS);
  return {
    status,
    body: {
      message:
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
      documentation_url: `${DOCS}#about-secondary-rate-limits`,
    },
    headers,
  };
}

interface TokenState {
  window: PrimaryWindow;
  inFlight: number;
  points: { at: number; points: number }[];
  content: number[];
  /** Until when GitHub asked this token to wait (the last limit answer's retry-after, or a minute). */
  waitUntil: number;
}

export interface LimitStats {
  /** Requests answered with a primary or a secondary limit, by which. */
  limited: Record<Limit | "concurrent" | "points" | "contentPerMinute" | "contentPerHour", number>;
  /** Requests sent while an earlier limit answer still asked the token to wait: what GitHub may ban an integration for. */
  whileAskedToWait: number;
}

export type Admission = { ok: true; headers: Record<string, string>; done(): void } | { ok: false; answer: LimitAnswer };

/** Enforces `limits` per token (installation tokens and the App's JWT each have their own), against `now`. */
export class RateLimiter {
  private readonly tokens = new Map<string, TokenState>();
  readonly stats: LimitStats = { limited: { primary: 0, secondary: 0, concurrent: 0, points: 0, contentPerMinute: 0, contentPerHour: 0 }, whileAskedToWait: 0 };

  constructor(
    private readonly limits: RateLimits = GITHUB_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  private stateOf(token: string, now: number): TokenState {
    let state = this.tokens.get(token);
    if (!state) {
      state = { window: { limit: this.limits.perHour, used: 0, resetAt: now + HOUR }, inFlight: 0, points: [], content: [], waitUntil: 0 };
      this.tokens.set(token, state);
    }
    if (now >= state.window.resetAt) state.window = { limit: this.limits.perHour, used: 0, resetAt: now + HOUR };
    state.points = state.points.filter((p) => p.at > now - MINUTE);
    state.content = state.content.filter((at) => at > now - HOUR);
    return state;
  }

  /** Admits a request of `token`, or answers it as GitHub would; an admitted one is done() when answered. */
  admit(token: string, request: { method: string; operationId: string }, who?: string): Admission {
    const now = this.now();
    const state = this.stateOf(token, now);
    if (now < state.waitUntil) this.stats.whileAskedToWait += 1;
    state.window.used += 1;
    if (state.window.used > state.window.limit) {
      this.stats.limited.primary += 1;
      state.waitUntil = Math.max(state.waitUntil, state.window.resetAt);
      return { ok: false, answer: limitAnswer("primary", state.window, { who }) };
    }
    const refuse = (reason: Exclude<keyof LimitStats["limited"], Limit>, freeAt: number | null): Admission => {
      this.stats.limited.secondary += 1;
      this.stats.limited[reason] += 1;
      // Without a retry-after, GitHub asks for at least a minute.
      const retryAfterS = freeAt === null ? undefined : Math.max(1, Math.ceil((freeAt - now) / 1000));
      state.waitUntil = Math.max(state.waitUntil, now + (retryAfterS ?? 60) * 1000);
      return { ok: false, answer: limitAnswer("secondary", state.window, retryAfterS === undefined ? {} : { retryAfterS }) };
    };
    if (state.inFlight >= this.limits.concurrent) return refuse("concurrent", null);
    const points = pointsOf(request.method);
    const spent = state.points.reduce((sum, p) => sum + p.points, 0);
    if (spent + points > this.limits.pointsPerMinute) {
      // Room comes back as the oldest points leave the minute.
      let freed = spent + points - this.limits.pointsPerMinute;
      const oldest = state.points.find((p) => (freed -= p.points) <= 0) ?? state.points.at(-1)!;
      return refuse("points", oldest.at + MINUTE);
    }
    if (createsContent(request.operationId)) {
      const lastMinute = state.content.filter((at) => at > now - MINUTE);
      if (lastMinute.length >= this.limits.contentPerMinute)
        return refuse("contentPerMinute", lastMinute[lastMinute.length - this.limits.contentPerMinute]! + MINUTE);
      if (state.content.length >= this.limits.contentPerHour)
        return refuse("contentPerHour", state.content[state.content.length - this.limits.contentPerHour]! + HOUR);
      state.content.push(now);
    }
    state.points.push({ at: now, points });
    state.inFlight += 1;
    let done = false;
    return {
      ok: true,
      headers: rateLimitHeaders(state.window),
      done: () => {
        if (!done) state.inFlight -= 1;
        done = true;
      },
    };
  }

  /** The primary window of `token` now, for answers the double makes up (an injected rate limit). */
  window(token: string): PrimaryWindow {
    return { ...this.stateOf(token, this.now()).window };
  }
}
