import type { Octokit } from "../github/github-api.js";
import { policyAt, type Policy } from "./trust.js";

/**
 * How long the base branch's policy (trust rules, triggers) is taken as read: a busy
 * repository's events share one read of it a minute, and a change to it on the base takes
 * effect within that minute.
 */
export const POLICY_TTL_MS = 60_000;
const POLICIES_CACHED = 1_000;

/** The base's policy at a ref, as a webhook handler reads it. */
export type BasePolicy = (octokit: Octokit, owner: string, repo: string, ref: string) => Promise<Policy>;

/** The base's policy at `ref`, read at most once per POLICY_TTL_MS (a read that fails is not kept). */
export function basePolicyCache(now: () => number): BasePolicy {
  const policies = new Map<string, { at: number; policy: Promise<Policy> }>();
  return (octokit, owner, repo, ref) => {
    const key = `${owner}/${repo}@${ref}`;
    const cached = policies.get(key);
    if (cached && now() - cached.at < POLICY_TTL_MS) return cached.policy;
    const entry = { at: now(), policy: policyAt(octokit, owner, repo, ref) };
    policies.delete(key);
    policies.set(key, entry);
    // The caller has the failure from the promise returned below; this only evicts it, so the next asks GitHub again.
    entry.policy.catch(() => policies.get(key) === entry && policies.delete(key));
    if (policies.size > POLICIES_CACHED) policies.delete(policies.keys().next().value!);
    return entry.policy;
  };
}
