import { DeferredError } from "../orchestrator/outbox-worker.js";
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

/** How long after a create GitHub may still not list the check run it made. */
export const LISTING_LAG_MS = 10_000;
const LOOK_AGAIN_MS = 2_000;

/**
 * Sends a check run's create with its request recorded first (`mark`), so that whichever
 * try or process comes next looks for it before creating another. A create that certainly
 * did not go out (put off for a rate limit) takes the record back, unless an earlier one
 * was already sent.
 */
export async function requested<T>(before: boolean, mark: (at: number | null) => Promise<void>, create: () => Promise<T>): Promise<T> {
  if (!before) await mark(Date.now());
  try {
    return await create();
  } catch (error) {
    if (!before && error instanceof DeferredError) await mark(null);
    throw error;
  }
}

/**
 * The check run an earlier create (sent at `requestedAt`) made, found by `find`; null when
 * none was sent, or none is listed a while after. Until then an unlisted one may just be
 * late to show, and the report waits rather than creating a second.
 */
export async function earlierCreate(requestedAt: number | null, find: () => Promise<number | null>): Promise<number | null> {
  if (requestedAt === null) return null;
  const id = await find();
  const now = Date.now();
  if (id === null && now - requestedAt < LISTING_LAG_MS)
    throw new DeferredError(
      "GitHub does not list the check run an earlier create may have made yet; looking again",
      Math.min(now + LOOK_AGAIN_MS, requestedAt + LISTING_LAG_MS),
    );
  return id;
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
