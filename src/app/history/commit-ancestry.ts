import type { PlanRecord } from "../../orchestrator/store/store.js";
import { splitRepo, type OctokitFor } from "../github/github-api.js";
import { isPullRequestGroup } from "../webhooks/plan-target.js";

/** How far back on the base branch a baseline is looked for: commits, nearest first. */
export const BASELINE_DEPTH = 30;
const PLANS_CACHED = 500;

/** The base-branch commits a plan's results are compared with, nearest first. */
export interface BaseCommits {
  /** The branch they are on. */
  baseRef: string | null;
  /** A pull request's merge base with its base branch; null for a plan on a branch (its parent comes first). */
  mergeBase: string | null;
  shas: string[];
}

/**
 * Where a plan's baseline is looked for. A pull request's: its merge base with the base
 * branch it had when planned, then that commit's first parents. A plan on a branch (a push,
 * a dispatch): its commit's first parents. Two reads per pull request plan at most, once: a
 * plan's commit and its merge base do not change.
 */
export class CommitAncestry {
  private readonly cache = new Map<string, Promise<BaseCommits>>();

  constructor(
    private readonly octokitFor: OctokitFor,
    private readonly depth = BASELINE_DEPTH,
  ) {}

  of(plan: PlanRecord): Promise<BaseCommits> {
    const cached = this.cache.get(plan.id);
    if (cached) return cached;
    const read = this.read(plan);
    this.cache.set(plan.id, read);
    // A read that failed is asked again next time.
    read.catch(() => this.cache.get(plan.id) === read && this.cache.delete(plan.id));
    if (this.cache.size > PLANS_CACHED) this.cache.delete(this.cache.keys().next().value!);
    return read;
  }

  private async read(plan: PlanRecord): Promise<BaseCommits> {
    if (!plan.repo || !plan.headSha || plan.installationId === null || !plan.baseRef) return { baseRef: null, mergeBase: null, shas: [] };
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    if (!isPullRequestGroup(plan.groupKey)) {
      const { data } = await octokit.rest.repos.listCommits({ owner, repo, sha: plan.headSha, per_page: this.depth + 1 });
      return { baseRef: plan.baseRef, mergeBase: null, shas: firstParents(data).filter((sha) => sha !== plan.headSha) };
    }
    // The route GitHub's description calls compare-commits, as the request's path has it: the base, three dots, the head.
    const { data: compared } = await octokit.request("GET /repos/{owner}/{repo}/compare/{base}...{head}", {
      owner,
      repo,
      base: plan.baseRef,
      head: plan.headSha,
      per_page: 1,
    });
    const mergeBase = compared.merge_base_commit.sha;
    const { data } = await octokit.rest.repos.listCommits({ owner, repo, sha: mergeBase, per_page: this.depth });
    return { baseRef: plan.baseRef, mergeBase, shas: firstParents(data) };
  }
}

/**
 * The branch's own line in a listing of a commit's history: each commit's first parent, from
 * the first. A merged pull request's commits are in the listing too (its second parent's
 * side), and were never the branch's.
 */
function firstParents(listed: readonly { sha: string; parents: readonly { sha: string }[] }[]): string[] {
  const bySha = new Map(listed.map((c) => [c.sha, c]));
  const line: string[] = [];
  for (let at = listed[0]; at; at = at.parents[0] ? bySha.get(at.parents[0].sha) : undefined) line.push(at.sha);
  return line;
}
