import type { Octokit } from "./github-api.js";

// What GitHub already has of kto's check runs, read before an effect that may have landed
// is sent again: GitHub makes a second check run for a second create, and appends
// annotations, so neither may be repeated.

export type Annotation = { path: string; start_line: number; end_line: number; annotation_level: "failure"; title: string; message: string };

type Where = { owner: string; repo: string };

/**
 * kto's check run of that name and external id on the commit, if GitHub has one. It is
 * looked for in kto's own check suite rather than among the commit's check runs, which
 * GitHub lists from only the latest 1,000 check suites (every workflow run adds one).
 */
export async function findCheckRun(
  octokit: Octokit,
  where: Where,
  sha: string,
  name: string,
  externalId: string,
  appId: number | null,
): Promise<number | null> {
  const suites = await octokit.paginate(octokit.rest.checks.listSuitesForRef, {
    ...where,
    ref: sha,
    per_page: 100,
    ...(appId !== null ? { app_id: appId } : {}),
  });
  let found: number | null = null;
  for (const suite of suites) {
    if (appId !== null && suite.app?.id !== appId) continue;
    const runs = await octokit.paginate(octokit.rest.checks.listForSuite, {
      ...where,
      check_suite_id: suite.id,
      check_name: name,
      filter: "all",
      per_page: 100,
    });
    for (const run of runs) if (run.external_id === externalId) found = Math.max(found ?? 0, run.id);
  }
  return found;
}

/** Those of `annotations` the check run does not have yet: each one there accounts for one copy. */
export async function annotationsNotThere(octokit: Octokit, where: Where, checkRunId: number, annotations: readonly Annotation[]): Promise<Annotation[]> {
  const there = await octokit.paginate(octokit.rest.checks.listAnnotations, { ...where, check_run_id: checkRunId, per_page: 100 });
  const copies = new Map<string, number>();
  for (const a of there) copies.set(annotationKey(a), (copies.get(annotationKey(a)) ?? 0) + 1);
  return annotations.filter((a) => {
    const left = copies.get(annotationKey(a)) ?? 0;
    if (left > 0) copies.set(annotationKey(a), left - 1);
    return left === 0;
  });
}

const annotationKey = (a: { path: string; start_line: number; title?: string | null; message: string | null }) =>
  JSON.stringify([a.path, a.start_line, a.title ?? "", a.message ?? ""]);
