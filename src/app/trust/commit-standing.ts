import type { JobReads } from "../../orchestrator/store/store.js";
import type { BasePolicy } from "./base-policy.js";
import type { Octokit } from "../github/github-api.js";
import { pullRequestOf } from "../webhooks/plan-target.js";
import { pullRequestFacts, type Policy } from "./trust.js";
import { plannedGate, pullRequestGate, unknownCommitGate, type GateDecision } from "./trust-gate.js";

/** A commit's standing with the gate, the base's policy it was judged by, and its pull request if it has one. */
export interface CommitStanding {
  standing: GateDecision;
  policy: Policy;
  pull: number | null;
}

/**
 * Where a commit stands before anyone asks to run it again. In a pull request, it stands as
 * that pull request's head would now: the one GitHub names (`named`), or else the one kto
 * planned it for, since GitHub names none for a fork's commit. Outside any, it stands where
 * kto's plans of it stood (a writer's dispatch of it vouches for it); a commit kto never
 * planned waits.
 */
export async function commitStanding(
  deps: { reads: JobReads; basePolicy: BasePolicy },
  octokit: Octokit,
  repository: { full_name: string; name: string; owner: { login: string }; default_branch: string },
  sha: string,
  named: number | null,
): Promise<CommitStanding> {
  const owner = repository.owner.login;
  const known = await deps.reads.plans.plansAt(repository.full_name, sha);
  const number = named ?? known.map((plan) => pullRequestOf(repository.full_name, plan.groupKey)).find((n) => n !== null) ?? null;
  if (number !== null) {
    const { data: pull } = await octokit.rest.pulls.get({ owner, repo: repository.name, pull_number: number });
    const policy = await deps.basePolicy(octokit, owner, repository.name, pull.base.ref);
    // Labels left out: one on the pull request approved an earlier plan at most, and its hint
    // (add it again) does not reach a re-run's own group.
    const facts = { ...pullRequestFacts(pull, repository.full_name), labels: [] };
    return { standing: pullRequestGate(facts, policy), policy, pull: number };
  }
  const policy = await deps.basePolicy(octokit, owner, repository.name, repository.default_branch);
  const planned = known.find((plan) => plan.trusted) ?? known[0];
  return { standing: planned ? plannedGate(planned, policy) : unknownCommitGate(sha, policy), policy, pull: null };
}
