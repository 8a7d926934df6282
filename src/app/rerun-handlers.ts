import type { Probot } from "probot";
import { isTerminal } from "../orchestrator/job-state.js";
import type { Octokit } from "./github-api.js";
import { groupOf, rerunGroupOf, suiteGroupOf, targetOf } from "./plan-target.js";
import { allowanceOf } from "./trust.js";
import type { WebhookKit } from "./webhook-kit.js";

/** GitHub's re-run buttons: one check run's, or a whole check suite's. */
export function rerunHandlers(kit: WebhookKit) {
  const { reads, once, basePolicy, plans } = kit;

  return (app: Probot) => {
    app.on(
      ["check_run.rerequested", "check_run.requested_action"],
      once(async (context) => {
        const run = context.payload.check_run;
        const job = run.external_id ? await reads.job(run.external_id) : null;
        if (!job) return;
        const plan = await reads.plan(job.planId);
        if (!plan?.repo || !plan.groupKey || !plan.headSha) return;
        // A check run's only button is "Re-run failed": GitHub shows buttons on completed check runs only.
        const action =
          context.payload.action === "requested_action"
            ? (context.payload as { requested_action?: { identifier?: string } }).requested_action?.identifier
            : "rerun";
        if (action !== "rerun" || !isTerminal(job.state)) return;
        // A finished job runs again on its own, at its commit, as it was planned there.
        await plans.submitSpecs(
          targetOf(context, plan.headSha, rerunGroupOf(plan.groupKey, plan.headSha, job.name), plan.defaultRef ?? undefined),
          [job.spec],
          null,
        );
      }),
    );

    app.on(
      "check_suite.rerequested",
      once(async (context) => {
        const suite = context.payload.check_suite;
        const repository = context.payload.repository;
        const pull = suite.pull_requests[0];
        const prGroup = pull ? groupOf(repository.full_name, pull.number) : null;
        const latest = prGroup ? await reads.latestPlan(prGroup) : null;
        // An older commit's suite re-run goes in a group of its own, as a re-run job does: it
        // must not cancel the plan of the pull request's head.
        const stale = latest?.headSha != null && latest.headSha !== suite.head_sha;
        const groupKey = !prGroup
          ? suiteGroupOf(repository.full_name, suite.head_sha)
          : stale
            ? rerunGroupOf(prGroup, suite.head_sha, "(check suite)")
            : prGroup;
        const policy = await basePolicy(
          context.octokit as unknown as Octokit,
          repository.owner.login,
          repository.name,
          pull?.base.ref ?? repository.default_branch,
        );
        await plans.submit(targetOf(context, suite.head_sha, groupKey), allowanceOf(policy, "pull_request"), null);
      }),
    );
  };
}
