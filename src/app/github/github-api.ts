import type { ProbotOctokit } from "probot";
import { httpStatusOf } from "../../orchestrator/http-status.js";

export type Octokit = InstanceType<typeof ProbotOctokit>;

/** An installation's octokit, from the App. */
export type OctokitFor = (installationId: number) => Promise<Octokit>;

/**
 * Probot's octokit as kto types it: Probot hands out its own class, whose plugins' types
 * (throttling, retries) do not line up with the octokit kto's code is written against.
 */
export function asOctokit(octokit: unknown): Octokit {
  return octokit as Octokit;
}

export function splitRepo(fullName: string): { owner: string; repo: string } {
  const [owner, repo] = fullName.split("/");
  return { owner: owner!, repo: repo! };
}

/**
 * A 4xx that says a scope cannot be listed (gone, renamed, a user account without an
 * organisation's runners, a permission not granted), not that GitHub asks kto to wait (429,
 * a rate limit's 403): the scope has no runners for kto, and the others are still listed.
 */
export function unlistable(error: unknown): boolean {
  const status = httpStatusOf(error);
  const message = (error as { message?: string }).message;
  return status !== undefined && status >= 400 && status < 500 && status !== 429 && !(status === 403 && /rate limit/i.test(message ?? ""));
}
