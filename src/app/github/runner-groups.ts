import { NO_REPOSITORY, type RunnerScope } from "../../orchestrator/scope.js";
import { unlistable, type Octokit } from "./github-api.js";

/** What decides which repositories may use a runner group's runners, as GitHub lists a group. */
export interface ListedRunnerGroup {
  id: number;
  visibility: string;
  allows_public_repositories: boolean;
  inherited_allows_public_repositories?: boolean;
}

/**
 * The scope of an organisation's runner group, as GitHub routes runs to it: `all`, every
 * repository of the organisation; `private`, its private (and internal) ones; `selected`,
 * the repositories listed for it. Public repositories only where the group allows them
 * (and the enterprise, for a group it passes down). A visibility kto does not know admits
 * no repository.
 */
export function runnerGroupScope(organization: string, group: ListedRunnerGroup, selected?: readonly string[]): RunnerScope {
  const publicRepositories = group.allows_public_repositories && group.inherited_allows_public_repositories !== false && group.visibility !== "private";
  if (group.visibility === "all" || group.visibility === "private") return { kind: "organization", organization, repositories: "all", publicRepositories };
  if (group.visibility === "selected" && selected) return { kind: "organization", organization, repositories: selected, publicRepositories };
  return NO_REPOSITORY;
}

/** What a listing answers, or null where GitHub refuses it (the App may not read it): a failure that passes is thrown. */
async function unlessRefused<T>(listing: Promise<T>): Promise<T | null> {
  return listing.catch((error: unknown) => {
    if (unlistable(error)) return null;
    throw error;
  });
}

/** A listed group's scope: the repositories of a `selected` group are read for it. */
async function scopeOfListed(octokit: Octokit, organization: string, group: ListedRunnerGroup): Promise<RunnerScope> {
  if (group.visibility !== "selected") return runnerGroupScope(organization, group);
  const repositories = await unlessRefused(
    octokit.paginate("GET /orgs/{org}/actions/runner-groups/{runner_group_id}/repositories", { org: organization, runner_group_id: group.id, per_page: 100 }),
  );
  if (!repositories) return NO_REPOSITORY;
  return runnerGroupScope(
    organization,
    group,
    repositories.map((r) => r.full_name),
  );
}

/**
 * The scopes of organisations' runner groups. Read when the pool lists an organisation's
 * runners (one listing of its groups, and one of the repositories of each `selected` group
 * that has runners) and when a runner is registered in a group not read yet: never per job.
 * A group kto could not read admits no repository.
 */
export class RunnerGroupScopes {
  private readonly byOrganization = new Map<string, Map<number, RunnerScope>>();

  /** The scope of runners in group `groupId` of `organization`, as last read. */
  scopeOf(organization: string, groupId: number | undefined): RunnerScope {
    if (groupId === undefined) return NO_REPOSITORY;
    return this.byOrganization.get(organization.toLowerCase())?.get(groupId) ?? NO_REPOSITORY;
  }

  /** Whether group `groupId` of `organization` has been read. */
  knows(organization: string, groupId: number): boolean {
    return this.byOrganization.get(organization.toLowerCase())?.has(groupId) === true;
  }

  /**
   * Reads the groups `groupIds` of `organization` afresh. `replace` forgets the
   * organisation's other groups (a listing of all its runners names every group in use).
   * A refusal (the App may not read them) leaves them admitting no repository; a failure
   * that passes (5xx, a rate limit) is thrown, and the pool keeps what it had.
   */
  async read(octokit: Octokit, organization: string, groupIds: Iterable<number>, options: { replace: boolean }): Promise<void> {
    const wanted = new Set(groupIds);
    const scopes = new Map<number, RunnerScope>([...wanted].map((id) => [id, NO_REPOSITORY]));
    const groups =
      wanted.size === 0 ? [] : await unlessRefused(octokit.paginate("GET /orgs/{org}/actions/runner-groups", { org: organization, per_page: 100 }));
    for (const group of (groups ?? []).filter((g) => wanted.has(g.id))) scopes.set(group.id, await scopeOfListed(octokit, organization, group));
    const key = organization.toLowerCase();
    this.byOrganization.set(key, options.replace ? scopes : new Map([...(this.byOrganization.get(key) ?? []), ...scopes]));
  }
}
