import type { Probot } from "probot";
import { isTerminal } from "../orchestrator/job-state.js";
import type { Octokit } from "./github-api.js";
import { groupOf, pullRequestOf, rerunGroupOf, suiteGroupOf, targetOf } from "./plan-target.js";
import { pullRequestFacts } from "./trust.js";
import { plannedGate, pullRequestGate, rerunGate, unknownCommitGate } from "./trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

/** GitHub's re-run buttons: one check run's, or a whole check suite's. Each is gated as the commit it names. */
export function rerunHandlers(kit: WebhookKit) {
  const { reads, once, basePolicy, plans } = kit;

  return (app: Probot) => {
    app.on(
      ["check_run.rerequested", "check_run.requested_action"],
      once(async (context) => {
        const { check_run: run, repository, sender } = context.payload;
        const job = run.external_id ? await reads.job(run.external_id) : null;
        if (!job) return;
        const plan = await reads.plan(job.planId);
        if (!plan?.repo || !plan.groupKey || !plan.headSha || plan.repo !== repository.full_name) return;
        // A check run's only button is "Re-run failed": GitHub shows buttons on completed check runs only.
        const action =
          context.payload.action === "requested_action"
            ? (context.payload as { requested_action?: { identifier?: string } }).requested_action?.identifier
            : "rerun";
        if (action !== "rerun" || !isTerminal(job.state)) return;
        const octokit = context.octokit as unknown as Octokit;
        const owner = repository.owner.login;
        const policy = await basePolicy(octokit, owner, repository.name, repository.default_branch);
        // The job stands where its plan stood: a job of a plan kto held runs again only for a writer.
        const gate = await rerunGate(plannedGate(plan, policy), { octokit, owner, repo: repository.name, login: sender.login }, plan.headSha);
        // A finished job runs again on its own, at its commit, as it was planned there.
        await plans.submitSpecs(
          targetOf(context, plan.headSha, rerunGroupOf(plan.groupKey, plan.headSha, job.name), plan.defaultRef ?? undefined),
          [job.spec],
          gate,
        );
      }),
    );

    app.on(
      "check_suite.rerequested",
      once(async (context) => {
        const { check_suite: suite, repository, sender } = context.payload;
        const octokit = context.octokit as unknown as Octokit;
        const owner = repository.owner.login;
        const sha = suite.head_sha;
        // GitHub lists a commit's pull requests only for branches of the repository itself (and
        // may list other repositories'): a fork's commit comes with none, so kto's own plans of
        // it say which pull request it belongs to.
        const known = await reads.plansAt(repository.full_name, sha);
        const number =
          suite.pull_requests.find((pull) => pull.base.repo.id === repository.id)?.number ??
          known.map((plan) => pullRequestOf(repository.full_name, plan.groupKey)).find((n) => n !== null) ??
          null;
        const pull = number === null ? null : (await octokit.rest.pulls.get({ owner, repo: repository.name, pull_number: number })).data;
        const policy = await basePolicy(octokit, owner, repository.name, pull?.base.ref ?? repository.default_branch);
        // With no pull request, a plan kto trusted at this commit vouches for it (a writer's dispatch of it).
        const planned = known.find((plan) => plan.trusted) ?? known[0];
        const standing = pull
          ? pullRequestGate(pullRequestFacts(pull, repository.full_name), policy)
          : planned
            ? plannedGate(planned, policy)
            : unknownCommitGate(sha, policy);
        const gate = await rerunGate(standing, { octokit, owner, repo: repository.name, login: sender.login }, sha);
        const prGroup = number === null ? null : groupOf(repository.full_name, number);
        const latest = prGroup ? await reads.latestPlan(prGroup) : null;
        // An older commit's suite re-run goes in a group of its own, as a re-run job does: it
        // must not cancel the plan of the pull request's head.
        const stale = latest?.headSha != null && latest.headSha !== sha;
        const groupKey = !prGroup ? suiteGroupOf(repository.full_name, sha) : stale ? rerunGroupOf(prGroup, sha, "(check suite)") : prGroup;
        await plans.submit(targetOf(context, sha, groupKey), policy.triggers.pull_request, gate);
      }),
    );
  };
}
