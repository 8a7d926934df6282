import type { GitHubState, Handler } from "../github-api-double.js";
import { page } from "./pages.js";

/**
 * GitHub keeps an App's check runs on a commit in that App's check suite (one per App and
 * commit): the suite a check run goes into, made with the first.
 */
export function suiteOf(state: GitHubState, repo: string, sha: string, app: { id: number; slug: string }): { id: number } {
  const key = `${repo}@${sha}#${app.id}`;
  let id = state.checkSuites.get(key);
  if (id === undefined) {
    id = 500_000 + state.checkSuites.size; // its own range: check run ids stay as they were
    state.checkSuites.set(key, id);
  }
  return { id };
}

/** A check run as GitHub lists it: its output's annotations are counted, not included. */
function listed(run: Record<string, unknown>): Record<string, unknown> {
  const output = (run.output ?? {}) as { title?: string; summary?: string; annotations?: unknown[] };
  return {
    ...run,
    output: {
      title: output.title ?? null,
      summary: output.summary ?? null,
      text: null,
      annotations_count: output.annotations?.length ?? 0,
      annotations_url: "",
    },
  };
}

export const CHECK_SUITE_HANDLERS: Record<string, Handler> = {
  "checks/list-suites-for-ref": (request, state) => {
    const { owner, repo, ref } = request.params as { owner: string; repo: string; ref: string };
    const sha = state.refs.get(`${owner}/${repo}@${ref}`) ?? ref;
    const appId = new URL(request.url, "http://x").searchParams.get("app_id");
    const suites = [...state.checkSuites.entries()]
      .map(([key, id]) => ({ key, id }))
      .filter(({ key }) => key.startsWith(`${owner}/${repo}@${sha}#`) && (appId === null || key.endsWith(`#${appId}`)))
      .map(({ key, id }) => ({ id, head_sha: sha, app: { id: Number(key.slice(key.lastIndexOf("#") + 1)) }, status: "queued", conclusion: null }));
    const { items, headers } = page(request, suites);
    return { status: 200, body: { total_count: suites.length, check_suites: items }, headers };
  },
  "checks/list-for-suite": (request, state) => {
    const suiteId = Number(request.params.check_suite_id);
    const query = new URL(request.url, "http://x").searchParams;
    const name = query.get("check_name");
    let runs = [...state.checkRuns.values()].filter((run) => {
      if ((run.check_suite as { id: number } | undefined)?.id !== suiteId || (name !== null && run.name !== name)) return false;
      const unlisted = state.unlistedCheckRuns.get(Number(run.id)) ?? 0;
      if (unlisted > 0) state.unlistedCheckRuns.set(Number(run.id), unlisted - 1);
      return unlisted === 0;
    });
    // GitHub's default, filter=latest, keeps each name's most recent check run.
    if ((query.get("filter") ?? "latest") === "latest") {
      const latest = new Map<unknown, Record<string, unknown>>();
      for (const run of runs) if (Number(run.id) > Number(latest.get(run.name)?.id ?? -1)) latest.set(run.name, run);
      runs = [...latest.values()];
    }
    const { items, headers } = page(request, runs);
    return { status: 200, body: { total_count: runs.length, check_runs: items.map(listed) }, headers };
  },
};
