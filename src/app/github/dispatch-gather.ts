import type { Clock } from "../../orchestrator/clock.js";
import type { GitHubBudgetRepository } from "../../orchestrator/store/github-budget-repository.js";
import { KTO_BUDGET } from "./github-limits.js";

/** The longest the queue holds jobs back to share a dispatch: a minute, GitHub's shortest window. */
export const MAX_GATHER_MS = 60_000;

const HOUR = 3_600_000;
const CALM_SHARE = 0.25;
const TIGHT_SHARE = 0.75;

/**
 * The gather window for a busiest installation that has spent `share` of its hourly
 * content-creating budget: `baseMs` while a quarter or less is spent, growing in a line to a
 * minute at three quarters. A dispatch is one content-creating request however many jobs
 * it carries, so as the hour fills jobs wait a little longer and go out in fewer, larger
 * runs, rather than the queue stopping when the budget runs out.
 */
export function gatherFor(share: number, baseMs: number): number {
  if (share <= CALM_SHARE) return baseMs;
  const toward = Math.min(1, (share - CALM_SHARE) / (TIGHT_SHARE - CALM_SHARE));
  return Math.round(baseMs + toward * Math.max(0, MAX_GATHER_MS - baseMs));
}

/** The App's gather window, read from what its installations spent in the last hour. */
export function dispatchGather(budget: Pick<GitHubBudgetRepository, "mostContentSince">, clock: Clock, baseMs: number): () => Promise<number> {
  return async () => {
    const spent = await budget.mostContentSince(clock.now() - HOUR);
    return gatherFor(spent / KTO_BUDGET.contentPerHour, baseMs);
  };
}
