import type { OrchestratorService } from "../../orchestrator/service.js";
import type { JobReads, JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import type { Octokit } from "../github/github-api.js";
import type { Writer } from "./trust-gate.js";

/**
 * The plan a maintainer's `/kto ok-to-test` or `/kto retest` speaks for, or null. A comment
 * names no commit, so it covers the head its author saw: `latest`, the pull request's newest
 * plan, must be for `headSha`, the head GitHub reports now, and kto must have made it before
 * the comment was written. kto plans a push only once GitHub has announced it, so that push
 * came before the comment; a push after the comment makes a newer plan (or, until kto hears
 * of it, a head the plan is not for) and the comment covers nothing.
 *
 * `writtenAt` is GitHub's created_at, in whole seconds rounded down: that errs towards
 * refusing. A kto host whose clock runs behind GitHub's errs towards accepting by as much,
 * which is why its clock must be kept in sync.
 */
export function planSeenBy(latest: PlanRecord | null, headSha: string, writtenAt: string): PlanRecord | null {
  if (!latest || latest.headSha !== headSha) return null;
  // NaN (a created_at GitHub would not send) compares false: refused.
  return latest.createdAt <= Date.parse(writtenAt) ? latest : null;
}

/**
 * Tells the pull request, on the commit's checks, that a comment did not cover its head: a
 * neutral check run named for the command, never "kto / approval", whose newest check run
 * GitHub would show instead of the hold (and branch protection would take as passing).
 */
export async function reportNotCovered(
  octokit: Octokit,
  owner: string,
  repo: string,
  comment: { command: string; login: string; writtenAt: string; headSha: string },
): Promise<void> {
  const { command, login, writtenAt, headSha } = comment;
  await octokit.rest.checks.create({
    owner,
    repo,
    name: `kto / ${command}`,
    head_sha: headSha,
    status: "completed",
    conclusion: "neutral",
    output: {
      title: `/kto ${command} by @${login} does not cover ${headSha.slice(0, 7)}`,
      summary: `@${login} wrote \`/kto ${command}\` at ${writtenAt}. Commit ${headSha} was pushed after that, or kto had not seen it yet, and a comment approves only the commit its author saw. To run it, review it and comment \`/kto ${command}\` again.`,
    },
  });
}

/** The jobs of a plan that wait for approval. */
export const waitingJobs = (store: JobReads, planId: string) => store.jobs.list({ planId, states: ["awaiting_approval"] });

/** Lets held jobs run: only someone GitHub says can write to the repository approves. */
export async function approveJobs(service: Pick<OrchestratorService, "approve">, approver: Writer, jobs: readonly JobRecord[]): Promise<void> {
  if (jobs.some((job) => job.repo !== approver.repo))
    throw new Error(`@${approver.login} can write to ${approver.repo}, not to every repository of these jobs`);
  await service.approve(jobs);
}
