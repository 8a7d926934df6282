import type { Probot } from "probot";
import { waitingJobs } from "../trust/approval.js";
import { asOctokit } from "../github/github-api.js";
import { pullRequestGroupOf, RERUN, targetOf } from "./plan-target.js";
import { allowanceOf, pullRequestFacts } from "../trust/trust.js";
import { pullRequestGate, writerOf } from "../trust/trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

/** A pull request's pushes plan its head; its ok-to-test label approves the head's waiting jobs. */
export function pullRequestHandlers(kit: WebhookKit) {
  const { reads, once, basePolicy, plans, approve, cancellation } = kit;

  return (app: Probot) => {
    app.on(
      ["pull_request.opened", "pull_request.synchronize", "pull_request.reopened"],
      once(async (context) => {
        const pr = context.payload.pull_request;
        const repository = context.payload.repository;
        // The head's own config would let a pull request vouch for itself.
        const policy = await basePolicy(asOctokit(context.octokit), repository.owner.login, repository.name, pr.base.ref);
        // A label already on the pull request approved some earlier commit at most: only adding it approves.
        const gate = pullRequestGate(pullRequestFacts(pr, repository.full_name), policy);
        const groupKey = pullRequestGroupOf(repository.full_name, pr.number);
        await plans.submit(targetOf(context, pr.head.sha, groupKey, undefined, pr.base.ref), allowanceOf(policy, "pull_request"), gate);
        // The new plan cancelled the older one; a job re-run at an older commit goes with it.
        if (context.payload.action === "synchronize")
          await cancellation.cancelWhere(
            repository.full_name,
            (plan) => plan.groupKey?.startsWith(`${groupKey}${RERUN}`) === true && plan.headSha !== pr.head.sha,
            `superseded by ${pr.head.sha.slice(0, 7)}`,
          );
      }),
    );

    app.on(
      "pull_request.labeled",
      once(async (context) => {
        const { pull_request: pr, repository, label, sender } = context.payload;
        if (!label) return;
        const octokit = asOctokit(context.octokit);
        // The label approves the head it was added at, and only while kto holds that head.
        const latest = await reads.plans.latestPlan(pullRequestGroupOf(repository.full_name, pr.number));
        if (latest?.headSha !== pr.head.sha) return;
        const waiting = await waitingJobs(reads, latest.id);
        if (waiting.length === 0) return;
        const policy = await basePolicy(octokit, repository.owner.login, repository.name, pr.base.ref);
        if (label.name !== policy.trust.ok_to_test_label) return;
        // Triage can add labels too.
        const writer = await writerOf(octokit, repository.owner.login, repository.name, sender.login);
        if (!writer) {
          context.log.info(
            { repo: repository.full_name, pull: pr.number, sender: sender.login },
            `kto: ${label.name} added by @${sender.login}, who cannot write to ${repository.full_name}, approves nothing`,
          );
          return;
        }
        await approve(writer, waiting);
      }),
    );
  };
}
