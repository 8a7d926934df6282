import type { Probot } from "probot";
import { buildNeeded, type JobSpec } from "../../config/job-spec.js";
import type { JobReads, JobRecord } from "../../orchestrator/store/store.js";
import { isTerminal } from "../../orchestrator/job-state.js";
import { commitStanding } from "../trust/commit-standing.js";
import { asOctokit } from "../github/github-api.js";
import { pullRequestGroupOf, pullRequestOf, rerunGroupOf, suiteGroupOf, targetOf } from "./plan-target.js";
import { allowanceOf } from "../trust/trust.js";
import { rerunGate } from "../trust/trust-gate.js";
import type { WebhookKit } from "./webhook-kit.js";

/**
 * What re-running one finished job runs: a build with the jobs of its plan that boot it; a
 * job that boots a build with the outputs of the build it booted when that succeeded
 * (`reuse`), else with that build again; any other job alone.
 */
export async function rerunOf(reads: JobReads, job: JobRecord): Promise<{ specs: JobSpec[]; reuse: Map<string, string> }> {
  if (job.spec.runner === "build") {
    const dependents = (await reads.jobs.list({ planId: job.planId })).filter((j) => j.needsJobId === job.id);
    return { specs: [job.spec, ...dependents.map((j) => j.spec)], reuse: new Map() };
  }
  const named = buildNeeded(job.spec);
  const build = job.needsJobId ? await reads.jobs.job(job.needsJobId) : null;
  if (named === undefined || !build) return { specs: [job.spec], reuse: new Map() };
  if (build.state === "succeeded") return { specs: [job.spec], reuse: new Map([[named, build.id]]) };
  return { specs: [build.spec, job.spec], reuse: new Map() };
}

/** GitHub's re-run buttons: one check run's, or a whole check suite's. Each is gated as the commit it names. */
export function rerunHandlers(kit: WebhookKit) {
  const { reads, once, plans } = kit;

  return (app: Probot) => {
    app.on(
      ["check_run.rerequested", "check_run.requested_action"],
      once(async (context) => {
        const { check_run: run, repository, sender } = context.payload;
        const job = run.external_id ? await reads.jobs.job(run.external_id) : null;
        if (!job) return;
        const plan = await reads.plans.plan(job.planId);
        if (!plan?.repo || !plan.groupKey || !plan.headSha || plan.repo !== repository.full_name) return;
        // A check run's only button is "Re-run failed": GitHub shows buttons on completed check runs only.
        const action =
          context.payload.action === "requested_action"
            ? (context.payload as { requested_action?: { identifier?: string } }).requested_action?.identifier
            : "rerun";
        if (action !== "rerun" || !isTerminal(job.state)) return;
        const octokit = asOctokit(context.octokit);
        const { standing } = await commitStanding(kit, octokit, repository, plan.headSha, pullRequestOf(repository.full_name, plan.groupKey));
        const gate = await rerunGate(standing, { octokit, owner: repository.owner.login, repo: repository.name, login: sender.login }, plan.headSha);
        // A finished job runs again at its commit, as it was planned there: on its own, with
        // the build it boots where that build did not succeed, or (a build) with the jobs that boot it.
        const { specs, reuse } = await rerunOf(reads, job);
        await plans.submitSpecs(
          targetOf(context, plan.headSha, rerunGroupOf(plan.groupKey, plan.headSha, job.name), plan.defaultRef ?? undefined),
          specs,
          gate,
          reuse,
        );
      }),
    );

    app.on(
      "check_suite.rerequested",
      once(async (context) => {
        const { check_suite: suite, repository, sender } = context.payload;
        const octokit = asOctokit(context.octokit);
        const sha = suite.head_sha;
        // GitHub names a commit's pull requests only for branches of the repository itself, and may name other repositories'.
        const named = suite.pull_requests.find((pull) => pull.base.repo.id === repository.id)?.number ?? null;
        const { standing, policy, pull } = await commitStanding(kit, octokit, repository, sha, named);
        const gate = await rerunGate(standing, { octokit, owner: repository.owner.login, repo: repository.name, login: sender.login }, sha);
        const prGroup = pull === null ? null : pullRequestGroupOf(repository.full_name, pull);
        const latest = prGroup ? await reads.plans.latestPlan(prGroup) : null;
        // An older commit's suite re-run goes in a group of its own, as a re-run job does: it
        // must not cancel the plan of the pull request's head.
        const stale = latest?.headSha != null && latest.headSha !== sha;
        const groupKey = !prGroup ? suiteGroupOf(repository.full_name, sha) : stale ? rerunGroupOf(prGroup, sha, "(check suite)") : prGroup;
        await plans.submit(targetOf(context, sha, groupKey), allowanceOf(policy, "pull_request"), gate);
      }),
    );
  };
}
