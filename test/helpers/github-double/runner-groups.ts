import type { GitHubState, Handler } from "../github-api-double.js";
import { page } from "./pages.js";

/** An organisation's runner group, as a test sets it up. */
export interface RunnerGroup {
  id: number;
  name: string;
  /** `all` of the organisation's repositories, the `selected` ones, or its `private` ones. */
  visibility: "all" | "selected" | "private";
  /** GitHub's default is false: public repositories may not use the group's runners. */
  allows_public_repositories: boolean;
  /** `selected`: the repositories (owner/name) that may use it. */
  repositories?: string[];
}

/**
 * An organisation GitHub knows has its Default group (id 1), every repository's, public
 * ones kept out, as GitHub sets it up; a test gives its own groups in `runnerGroups`.
 */
export const DEFAULT_RUNNER_GROUP: RunnerGroup = { id: 1, name: "Default", visibility: "all", allows_public_repositories: false };

function groupsOf(state: GitHubState, org: string): RunnerGroup[] | null {
  const groups = state.runnerGroups.get(org);
  if (groups) return groups;
  // An organisation, as far as the double knows one: it has runners listed.
  return state.runners.has(`org:${org}`) ? [DEFAULT_RUNNER_GROUP] : null;
}

function listed(org: string, group: RunnerGroup): Record<string, unknown> {
  const url = `https://api.github.com/orgs/${org}/actions/runner-groups/${group.id}`;
  return {
    id: group.id,
    name: group.name,
    visibility: group.visibility,
    default: group.id === DEFAULT_RUNNER_GROUP.id,
    ...(group.visibility === "selected" ? { selected_repositories_url: `${url}/repositories` } : {}),
    runners_url: `${url}/runners`,
    inherited: false,
    allows_public_repositories: group.allows_public_repositories,
    restricted_to_workflows: false,
    selected_workflows: [],
    workflow_restrictions_read_only: false,
  };
}

export const RUNNER_GROUP_HANDLERS: Record<string, Handler> = {
  "actions/list-self-hosted-runner-groups-for-org": (request, state) => {
    const org = request.params.org!;
    const groups = groupsOf(state, org);
    if (!groups) return { status: 404, body: { message: "Not Found" } };
    // A filter the double would have to answer as GitHub does: refused rather than ignored.
    if (new URL(request.url, "http://x").searchParams.has("visible_to_repository"))
      return { status: 422, body: { message: "the double does not serve visible_to_repository" } };
    const { items, headers } = page(request, groups);
    return { status: 200, body: { total_count: groups.length, runner_groups: items.map((group) => listed(org, group)) }, headers };
  },
  "actions/list-repo-access-to-self-hosted-runner-group-in-org": (request, state) => {
    const org = request.params.org!;
    const group = groupsOf(state, org)?.find((g) => g.id === Number(request.params.runner_group_id));
    if (!group) return { status: 404, body: { message: "Not Found" } };
    // GitHub documents the list for a group of selected repositories only.
    if (group.visibility !== "selected")
      return { status: 422, body: { message: `the double does not know GitHub's answer for a group whose visibility is ${group.visibility}` } };
    const repositories = (group.repositories ?? []).map((fullName, i) => {
      const [owner, name] = fullName.split("/") as [string, string];
      return { id: 9_000 + i, node_id: `R_${i}`, name, full_name: fullName, owner: { login: owner } };
    });
    const { items, headers } = page(request, repositories);
    return { status: 200, body: { total_count: repositories.length, repositories: items }, headers };
  },
};
