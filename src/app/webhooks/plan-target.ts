import { asOctokit, type Octokit } from "../github/github-api.js";

/** Where a plan for an event goes: the repository, its installation, the commit and the group it replaces within. */
export interface Target {
  octokit: Octokit;
  installationId: number;
  repo: string;
  /** Whether the repository is private (or internal), as the event says: a runner group may keep public ones out. */
  repoPrivate: boolean | null;
  owner: string;
  name: string;
  headSha: string;
  defaultRef: string;
  /** The branch the plan's results are judged against: a pull request's base, or the branch pushed to. */
  baseRef?: string;
  groupKey: string;
  /** The webhook delivery that asks for the plan. */
  deliveryId: string;
}

export interface EventContext {
  id: string;
  octokit: unknown;
  payload: {
    installation?: { id: number };
    repository?: { full_name: string; name: string; owner: { login: string }; default_branch: string; private?: boolean };
  };
}

export function targetOf(context: EventContext, headSha: string, groupKey: string, defaultRef?: string, baseRef?: string): Target {
  const repository = context.payload.repository!;
  return {
    octokit: asOctokit(context.octokit),
    installationId: context.payload.installation!.id,
    repo: repository.full_name,
    repoPrivate: repository.private ?? null,
    owner: repository.owner.login,
    name: repository.name,
    headSha,
    defaultRef: defaultRef ?? repository.default_branch,
    groupKey,
    ...(baseRef ? { baseRef } : {}),
    deliveryId: context.id,
  };
}

// A plan's group: a newer plan cancels its group's older ones. Each kind is built here only.
const PULL_REQUEST_GROUP = "pr:";

/** A pull request's pushes. */
export const pullRequestGroupOf = (repo: string, number: number) => `${PULL_REQUEST_GROUP}${repo}#${number}`;
/** A check suite's commit outside any pull request. */
export const suiteGroupOf = (repo: string, sha: string) => `suite:${repo}:${sha}`;
/** Pushes to a branch: a newer push's plan replaces an older one still under way. */
export const pushGroupOf = (repo: string, branch: string) => `push:${repo}:${branch}`;
/** Whether the group's plans test a branch's own commits (its pushes, a dispatch on it): only their results may be that branch's baseline. */
export const isBranchGroup = (groupKey: string | null) => ["push:", "dispatch:", BASELINE_GROUP].some((kind) => groupKey?.startsWith(kind) === true);
const BASELINE_GROUP = "baseline:";
/** A baseline kto schedules at a base-branch commit that has no results, shared by the pull requests on it. */
export const baselineGroupOf = (repo: string, sha: string) => `${BASELINE_GROUP}${repo}:${sha}`;
/** Whether the group is a branch's pushes: the default branch's, the only pushes kto plans. */
export const isPushGroup = (groupKey: string | null) => groupKey?.startsWith("push:") === true && !groupKey.includes(RERUN);
const BISECT_GROUP = "bisect:";
/** A bisection's steps, one plan after another: a step's plan replaces none of the branch's. */
export const bisectGroupOf = (repo: string, id: string) => `${BISECT_GROUP}${repo}:${id}`;
/** The id of the bisection whose step `groupKey` is the group of; null for any other group. */
export function bisectionOf(groupKey: string | null): string | null {
  if (!groupKey?.startsWith(BISECT_GROUP)) return null;
  const id = groupKey.slice(groupKey.lastIndexOf(":") + 1);
  return /^[0-9a-f]+$/.test(id) ? id : null;
}
/** Runs asked for by a dispatch, per branch or tag. */
export const dispatchGroupOf = (repo: string, ref: string) => `dispatch:${repo}:${ref}`;
/** Whether the group is a pull request's (its re-runs included): where `/kto` comments can reach it. */
export const isPullRequestGroup = (groupKey: string | null) => groupKey?.startsWith(PULL_REQUEST_GROUP) === true;

/**
 * A job re-run on its own is a plan in a group of its own, under its plan's group: so it
 * cancels neither its siblings nor, re-run from an older commit, the head's plan (a plan
 * cancels its group's older plans). A push cancels it with the rest of the pull request's
 * older work, and `/kto cancel` reaches it.
 */
export const RERUN = " rerun ";
export const rerunGroupOf = (groupKey: string, headSha: string, jobName: string) => `${groupKey.split(RERUN)[0]}${RERUN}${headSha} ${jobName}`;
export const inGroup = (planGroup: string | null, groupKey: string) => planGroup === groupKey || planGroup?.startsWith(`${groupKey}${RERUN}`) === true;
/** Whether the group is a pull request's own, not a re-run's: the plans its ok-to-test label and comments approve. */
export const isPullRequestHeadGroup = (groupKey: string | null) => groupKey !== null && isPullRequestGroup(groupKey) && !groupKey.includes(RERUN);

/** The number of the pull request of `repo` whose group (or re-run's group) `groupKey` is; null for any other group. */
export function pullRequestOf(repo: string, groupKey: string | null): number | null {
  const prefix = `${PULL_REQUEST_GROUP}${repo}#`;
  if (!groupKey?.startsWith(prefix)) return null;
  const number = groupKey.slice(prefix.length).split(RERUN)[0]!;
  return /^[1-9]\d*$/.test(number) ? Number(number) : null;
}
