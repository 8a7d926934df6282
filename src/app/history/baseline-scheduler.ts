import { isTerminal } from "../../orchestrator/job-state.js";
import type { ResultHistory } from "../../orchestrator/store/result-history.js";
import type { JobReads, JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import { jobIdentity } from "../../runners/history/test-identity.js";
import { splitRepo, type OctokitFor } from "../github/github-api.js";
import type { BasePolicy } from "../trust/base-policy.js";
import { allowanceOf } from "../trust/trust.js";
import { baselineGate } from "../trust/trust-gate.js";
import type { PlanSubmitter } from "../webhooks/plan-submitter.js";
import { baselineGroupOf, type Target } from "../webhooks/plan-target.js";
import type { CommitAncestry } from "./commit-ancestry.js";

/** The lowest priority: a baseline waits for every job people asked for. */
const BASELINE_PRIORITY = 0;
/** How far back a late baseline looks for the pull requests' jobs it judges. */
const WAITERS_SINCE_MS = 7 * 86_400_000;
const WAITERS_READ = 200;

export interface BaselineSchedulerDeps {
  reads: Pick<JobReads, "plans" | "jobs">;
  plans: Pick<PlanSubmitter, "submit">;
  history: Pick<ResultHistory, "recentUnbranchedRuns">;
  ancestry: Pick<CommitAncestry, "of">;
  octokitFor: OctokitFor;
  basePolicy: BasePolicy;
  /** Shows finished jobs again: their check runs, judged now that the baseline is there. */
  republish: (jobs: readonly JobRecord[], why: string) => Promise<void>;
}

const keyOf = (job: Pick<JobRecord, "spec">) => jobIdentity({ suite: job.spec.suite, matrix: job.spec.matrix });

/**
 * The baseline kto runs itself when a pull request's merge base has no results of a job:
 * that job's suite at the merge base, at the lowest priority, once however many pull requests
 * sit on that commit (its delivery id is the commit's and the suite's). The pull requests'
 * check runs wait for it, and are judged again when it ends.
 */
export class BaselineScheduler {
  constructor(private readonly deps: BaselineSchedulerDeps) {}

  /**
   * Whether `job`'s baseline at `sha` is on its way (planned now, or planned before and not
   * ended); false when it ended without results or cannot be planned (then there is none).
   */
  async request(plan: PlanRecord, sha: string, job: JobRecord): Promise<boolean> {
    if (!plan.repo || plan.installationId === null || !plan.baseRef) return false;
    const pending = await this.pending(plan.repo, sha, keyOf(job));
    if (pending !== null) return pending;
    const octokit = await this.deps.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    const policy = await this.deps.basePolicy(octokit, owner, repo, plan.baseRef);
    const group = baselineGroupOf(plan.repo, sha);
    const target: Target = {
      octokit,
      installationId: plan.installationId,
      repo: plan.repo,
      repoPrivate: null,
      owner,
      name: repo,
      headSha: sha,
      defaultRef: plan.defaultRef ?? plan.baseRef,
      baseRef: plan.baseRef,
      groupKey: group,
      deliveryId: `${group}:${job.spec.suite}`,
    };
    // The job as the pull request has it: a merge base without it (a suite the pull request
    // adds, a config there that cannot be read) has no baseline to give, and no check run on
    // that commit says so; the judgement says there is none.
    const submitted = await this.deps.plans.submit(target, allowanceOf(policy, "pull_request"), baselineGate(plan.baseRef, sha), {
      suites: [job.spec.suite],
      priority: BASELINE_PRIORITY,
      wants: keyOf(job),
    });
    if (submitted.kind === "none") return false;
    return (await this.pending(plan.repo, sha, keyOf(job))) === true;
  }

  /** Null when no baseline of the job was planned at `sha`; else whether it is still to end. */
  private async pending(repo: string, sha: string, jobKey: string): Promise<boolean | null> {
    const group = baselineGroupOf(repo, sha);
    for (const plan of await this.deps.reads.plans.plansAt(repo, sha)) {
      if (plan.groupKey !== group) continue;
      const job = (await this.deps.reads.jobs.list({ planId: plan.id })).find((j) => keyOf(j) === jobKey);
      if (job) return !isTerminal(job.state);
    }
    return null;
  }

  /** A job's end: when it is a baseline's, the pull requests' jobs it was run for are judged again. */
  async ended(job: JobRecord): Promise<void> {
    const plan = await this.deps.reads.plans.plan(job.planId);
    if (!plan?.repo || !plan.headSha || plan.groupKey !== baselineGroupOf(plan.repo, plan.headSha)) return;
    const waiting: JobRecord[] = [];
    for (const run of await this.deps.history.recentUnbranchedRuns(plan.repo, keyOf(job), (job.finishedAt ?? 0) - WAITERS_SINCE_MS, WAITERS_READ)) {
      const waiter = await this.deps.reads.jobs.job(run.jobId);
      const of = waiter && (await this.deps.reads.plans.plan(waiter.planId));
      if (!waiter || !of || waiter.attempt !== run.attempt || !isTerminal(waiter.state)) continue;
      const commits = await this.deps.ancestry.of(of).catch(() => null);
      if (commits?.shas[0] === plan.headSha) waiting.push(waiter);
    }
    await this.deps.republish(waiting, `baseline:${plan.headSha}`);
  }
}
