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
import { jobsOfSuite, suiteOfExternalId } from "../github/suite-check-run.js";
import { pressBisect, pressStopBisect } from "./bisect-handler.js";
import { bisectionOfExternalId } from "../bisect/bisection-markdown.js";
import { BISECT_ACTION, STOP_BISECT_ACTION } from "../bisect/bisect-offer.js";

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

/** What re-running several finished jobs runs: each one's re-run, every job once. */
async function rerunAll(reads: JobReads, jobs: readonly JobRecord[]): Promise<{ specs: JobSpec[]; reuse: Map<string, string> }> {
  const specs = new Map<string, JobSpec>();
  const reuse = new Map<string, string>();
  for (const job of jobs) {
    const one = await rerunOf(reads, job);
    for (const spec of one.specs) if (!specs.has(spec.id)) specs.set(spec.id, spec);
    for (const [build, id] of one.reuse) reuse.set(build, id);
  }
  return { specs: [...specs.values()], reuse };
}

/** The jobs a check run shows, by its external id: one job's, or a suite's; and the name its re-run group takes. */
async function shownBy(reads: JobReads, externalId: string): Promise<{ jobs: JobRecord[]; name: string; suite: boolean } | null> {
  const suite = suiteOfExternalId(externalId);
  if (suite) {
    const jobs = jobsOfSuite(await reads.jobs.list({ planId: suite.planId }), suite.suite);
    return jobs.length > 0 ? { jobs, name: suite.suite, suite: true } : null;
  }
  const job = await reads.jobs.job(externalId);
  return job ? { jobs: [job], name: job.name, suite: false } : null;
}

/** GitHub's re-run buttons: one check run's, or a whole check suite's. Each is gated as the commit it names. */
export function rerunHandlers(kit: WebhookKit) {
  const { reads, once, plans } = kit;

  return (app: Probot) => {
    app.on(
      ["check_run.rerequested", "check_run.requested_action"],
      once(async (context) => {
        const { check_run: run, repository, sender } = context.payload;
        const identifier =
          context.payload.action === "requested_action"
            ? (context.payload as { requested_action?: { identifier?: string } }).requested_action?.identifier
            : "rerun";
        // A `kto / bisect` check run has no button, and its re-run asks for nothing.
        if (bisectionOfExternalId(run.external_id) !== null) return;
        const shown = run.external_id ? await shownBy(reads, run.external_id) : null;
        if (!shown) return;
        const { jobs, name } = shown;
        const plan = await reads.plans.plan(jobs[0]!.planId);
        if (!plan?.repo || !plan.groupKey || !plan.headSha || plan.repo !== repository.full_name) return;
        // A check run's buttons: "Re-run failed", and "Bisect" and "Stop bisect" on a regression of the default branch; GitHub shows buttons on completed check runs only.
        if (identifier === BISECT_ACTION.identifier && !shown.suite && isTerminal(jobs[0]!.state)) return pressBisect(kit, context, jobs[0]!, plan);
        if (identifier === STOP_BISECT_ACTION.identifier && !shown.suite && isTerminal(jobs[0]!.state)) return pressStopBisect(kit, context, jobs[0]!, plan);
        if (identifier !== "rerun" || !jobs.every((j) => isTerminal(j.state))) return;
        // A job's own check run re-runs it, whatever its end; a suite's, those that did not succeed.
        const failed = shown.suite ? jobs.filter((j) => j.state !== "succeeded") : jobs;
        if (failed.length === 0) return;
        const octokit = asOctokit(context.octokit);
        const { standing } = await commitStanding(kit, octokit, repository, plan.headSha, pullRequestOf(repository.full_name, plan.groupKey));
        const gate = await rerunGate(standing, { octokit, owner: repository.owner.login, repo: repository.name, login: sender.login }, plan.headSha);
        // A finished job runs again at its commit, as it was planned there: on its own, with
        // the build it boots where that build did not succeed, or (a build) with the jobs that boot it.
        // A suite's check run re-runs its jobs that did not succeed, together.
        const { specs, reuse } = await rerunAll(reads, failed);
        await plans.submitSpecs(
          targetOf(context, plan.headSha, rerunGroupOf(plan.groupKey, plan.headSha, name), plan.defaultRef ?? undefined, plan.baseRef ?? undefined),
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
        await plans.submit(targetOf(context, sha, groupKey, undefined, latest?.baseRef ?? undefined), allowanceOf(policy, "pull_request"), gate);
      }),
    );
  };
}
