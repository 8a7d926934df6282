import type { PlanRecord } from "../../orchestrator/store/store.js";
import { splitRepo, type OctokitFor } from "../github/github-api.js";
import { pullRequestOf } from "../webhooks/plan-target.js";

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
 * branch, then that commit's ancestors. A plan on a branch (a push, a dispatch): its
 * commit's ancestors. Three reads per pull request plan at most, once: a plan's commit and
 * its merge base do not change.
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
    if (!plan.repo || !plan.headSha || plan.installationId === null) return { baseRef: null, mergeBase: null, shas: [] };
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    const number = pullRequestOf(plan.repo, plan.groupKey);
    if (number === null) {
      const { data } = await octokit.rest.repos.listCommits({ owner, repo, sha: plan.headSha, per_page: this.depth + 1 });
      return { baseRef: plan.defaultRef, mergeBase: null, shas: data.map((c) => c.sha).filter((sha) => sha !== plan.headSha) };
    }
    const { data: pull } = await octokit.rest.pulls.get({ owner, repo, pull_number: number });
    // The route GitHub's description calls compare-commits, as the request's path has it: the base, three dots, the head.
    const { data: compared } = await octokit.request("GET /repos/{owner}/{repo}/compare/{base}...{head}", {
      owner,
      repo,
      base: pull.base.ref,
      head: plan.headSha,
      per_page: 1,
    });
    const mergeBase = compared.merge_base_commit.sha;
    const { data } = await octokit.rest.repos.listCommits({ owner, repo, sha: mergeBase, per_page: this.depth });
    return { baseRef: pull.base.ref, mergeBase, shas: data.map((c) => c.sha) };
  }
}
