import type { OrchestratorService } from "../../orchestrator/service.js";
import type { JobRecord } from "../../orchestrator/store/store.js";
import { codeSpan } from "../../runners/report/markdown.js";
import { outputTitle, SUMMARY_LIMIT, withinLimit } from "../github/check-run-limits.js";
import type { Octokit } from "../github/github-api.js";
import { inGroup } from "./plan-target.js";

/** What a cancellation looks at of a job's plan. */
type PlanOfJob = { groupKey: string | null; headSha: string | null };

export interface JobCancellation {
  /** Cancels `repo`'s unfinished jobs that `which` picks; the names of those cancelled. */
  cancelWhere(repo: string, which: (plan: PlanOfJob, job: JobRecord) => boolean, reason: string): Promise<string[]>;
  cancelGroup(repo: string, groupKey: string, reason: string): Promise<string[]>;
  /**
   * `/kto cancel <job>`: that job of the pull request (its check run's name, with or
   * without "kto / "), wherever it is in its life. A name that matches nothing is
   * answered on the pull request's checks with the names that would.
   */
  cancelJob(
    octokit: Octokit,
    repository: { full_name: string; name: string; owner: { login: string } },
    groupKey: string,
    name: string,
    login: string,
  ): Promise<void>;
}

export function jobCancellation(service: Pick<OrchestratorService, "cancelJobs" | "reads">): JobCancellation {
  const store = service.reads;

  async function cancelWhere(repo: string, which: (plan: PlanOfJob, job: JobRecord) => boolean, reason: string): Promise<string[]> {
    const picked = (await store.jobs.unfinishedJobsOf(repo)).filter((job) => which(job.plan, job));
    return (await service.cancelJobs(picked, reason)).map((job) => job.name);
  }

  const cancelGroup = (repo: string, groupKey: string, reason: string) => cancelWhere(repo, (plan) => inGroup(plan.groupKey, groupKey), reason);

  async function cancelJob(
    octokit: Octokit,
    repository: { full_name: string; name: string; owner: { login: string } },
    groupKey: string,
    name: string,
    login: string,
  ): Promise<void> {
    const wanted = name.replace(/^[`'"]|[`'"]$/g, "").replace(/^kto \/ /, "");
    const cancelled = await cancelWhere(repository.full_name, (plan, job) => inGroup(plan.groupKey, groupKey) && job.name === wanted, `cancelled by @${login}`);
    if (cancelled.length > 0) return;
    const latest = await store.plans.latestPlan(groupKey);
    if (!latest?.headSha) return;
    const names = new Set<string>();
    for (const job of await store.jobs.unfinishedJobsOf(repository.full_name)) if (inGroup(job.plan.groupKey, groupKey)) names.add(job.name);
    await octokit.rest.checks.create({
      owner: repository.owner.login,
      repo: repository.name,
      name: "kto / cancel",
      head_sha: latest.headSha,
      status: "completed",
      conclusion: "neutral",
      output: {
        title: outputTitle(`/kto cancel ${wanted} by @${login}: no waiting or running job of that name`),
        summary: withinLimit(
          names.size > 0
            ? `Jobs that can be cancelled now:\n\n${[...names].map((n) => `- ${codeSpan(n)}`).join("\n")}\n\n\`/kto cancel\` alone cancels them all.`
            : "No job of this pull request is waiting or running.",
          SUMMARY_LIMIT,
          "the dashboard lists every job",
        ),
      },
    });
  }

  return { cancelWhere, cancelGroup, cancelJob };
}
