import type { ImposedCaps } from "../../config/limits.js";
import { DEFAULT_CONFIG_PATH } from "../../config/load-config.js";
import { NO_PRIVILEGES, type PrivilegeAllowance } from "../../config/privileges.js";
import { configSchema, type KtoConfig } from "../../config/schema.js";
import { configAtRef } from "./config-at-sha.js";
import type { Octokit } from "../github/github-api.js";

/** What the trust gate reads of a pull request. */
export interface PullRequestFacts {
  authorAssociation: string;
  headRepo: string | null;
  baseRepo: string;
  labels: string[];
}

/** A pull request as a webhook or the pulls API gives it, read as the gate reads it. */
export function pullRequestFacts(
  pr: { author_association?: string; head: { repo?: { full_name: string } | null }; labels?: { name?: string }[] },
  baseRepo: string,
): PullRequestFacts {
  return {
    // An association GitHub left out trusts nobody.
    authorAssociation: pr.author_association ?? "NONE",
    headRepo: pr.head.repo?.full_name ?? null,
    baseRepo,
    labels: (pr.labels ?? []).flatMap((label) => (label.name ? [label.name] : [])),
  };
}

export interface TrustConfig {
  ok_to_test_label: string;
  trusted_associations: readonly string[];
}

export type Triggers = KtoConfig["triggers"];
export type SuiteSelection = Triggers["pull_request"];

/**
 * Who runs on the hardware without approval, which suites each trigger runs, what privileges
 * they may ask for, and how many jobs a plan that is not trusted may have. It is the base
 * branch's word: a pull request that could set it would vouch for itself.
 */
export interface Policy {
  trust: TrustConfig;
  triggers: Triggers;
  /** Narrows each runner host's policy; undefined when the base does not say, and the hosts alone decide. */
  privileges: PrivilegeAllowance | undefined;
  /** The job caps a plan that is not trusted is held to, whatever its own config says. */
  limits: ImposedCaps;
  /** When a finished job is red: for a regression only, or for any failure. */
  results: KtoConfig["results"];
  /** Set when the base's config cannot be read: then no author is trusted, and this says why. */
  distrust?: string;
}

/**
 * A pull request runs on the hardware at once only when its author is trusted and it
 * does not come from a fork; otherwise it waits for a maintainer's ok-to-test.
 */
export function heldByTrustRules(pr: PullRequestFacts, trust: TrustConfig): string | null {
  const reason =
    pr.headRepo === null
      ? "its head repository was deleted"
      : pr.headRepo !== pr.baseRepo
        ? `it comes from the fork ${pr.headRepo}`
        : !trust.trusted_associations.includes(pr.authorAssociation)
          ? `its author is ${pr.authorAssociation.toLowerCase().replace(/_/g, " ")}, not a trusted member`
          : null;
  // The label stays on through pushes and reopens; the maintainers who see it need to know it no longer counts.
  if (reason && pr.labels.includes(trust.ok_to_test_label))
    return `${reason}; the label ${trust.ok_to_test_label} approves only the commit it is added to, so remove it and add it again to approve this one`;
  return reason;
}

/** What the base lets a trigger's plan run: which suites, and what privileges they may ask for. */
export interface BaseAllowance {
  suites: SuiteSelection;
  privileges: PrivilegeAllowance | undefined;
  /** A failing job runs again at least this many times (the base's `results.confirm`), whatever the head's config says. */
  retriesAtLeast?: number;
}

export function allowanceOf(policy: Policy, trigger: keyof Triggers): BaseAllowance {
  // A pull request's regressions are confirmed before they are called new: its failing jobs run again.
  const confirm = trigger === "pull_request" ? policy.results.confirm : 0;
  return { suites: policy.triggers[trigger], privileges: policy.privileges, ...(confirm > 0 ? { retriesAtLeast: confirm } : {}) };
}

/** The gate of a pull request under the base's policy: null to run now, or why it waits. */
export function holdReason(pr: PullRequestFacts, policy: Policy): string | null {
  return policy.distrust ?? heldByTrustRules(pr, policy.trust);
}

// What a repository without a kto.yml on its base accepted by installing kto: the schema's own defaults.
const DEFAULTS = configSchema.innerType().shape;

/** The policy in `.github/kto.yml` on `ref`, a branch of the base repository. */
export async function policyAt(octokit: Octokit, owner: string, repo: string, ref: string): Promise<Policy> {
  const config = await configAtRef(octokit, owner, repo, ref);
  if (config.kind === "ok") {
    const { trust, triggers, privileges, limits, results } = config.loaded.config;
    return { trust, triggers, privileges, results, limits: { caps: limits, setOn: `on the base branch ${ref}, which bounds a plan that is not trusted` } };
  }
  const defaults = {
    trust: DEFAULTS.trust.parse(undefined),
    triggers: DEFAULTS.triggers.parse(undefined),
    results: DEFAULTS.results.parse(undefined),
    limits: { caps: DEFAULTS.limits.parse(undefined), setOn: `by default, as the base branch ${ref} sets none: it bounds a plan that is not trusted` },
  };
  if (config.kind === "missing") return { ...defaults, privileges: undefined };
  // Nor what it allows: nothing, until the base's config is valid again.
  return { ...defaults, privileges: NO_PRIVILEGES, distrust: `${DEFAULT_CONFIG_PATH} on ${ref} is invalid, so kto cannot tell whom it trusts` };
}
