import { DeferredError } from "../../orchestrator/outbox-worker.js";
import type { Octokit } from "./github-api.js";
import type { Annotation } from "./check-run-annotations.js";

// What GitHub already has of kto's check runs, read before an effect that may have landed
// is sent again: GitHub makes a second check run for a second create, and appends
// annotations, so neither may be repeated.

/** One of kto's check runs on a commit, as GitHub knows it: by name and external id, made by kto's App. */
export interface CheckRunAt {
  owner: string;
  repo: string;
  sha: string;
  name: string;
  externalId: string;
  /** Another App's check run of the same name and external id is not kto's. */
  appId: number | null;
}

/** Where the store keeps a check run's id, and when its create was sent: a job's, or a plan's approval. */
export interface CheckRunRecord {
  id: number | null;
  requestedAt: number | null;
  setId(id: number): Promise<void>;
  markRequested(at: number | null): Promise<void>;
}

/** What a create sends besides where the check run is and what it is called. */
export type CheckRunFields = Omit<NonNullable<Parameters<Octokit["rest"]["checks"]["create"]>[0]>, "owner" | "repo" | "name" | "head_sha" | "external_id">;

/** How long after a create GitHub may still not list the check run it made. */
export const LISTING_LAG_MS = 10_000;
const LOOK_AGAIN_MS = 2_000;

/**
 * The check run's id: the one the store has, or the one an earlier create made (its answer
 * lost, or its sender dead), found on GitHub and then recorded; null when there is none.
 * A create sent a moment ago may not be listed yet: until a while after it (by the
 * orchestrator's clock, `now`), the report waits rather than creating a second.
 */
export async function knownCheckRun(octokit: Octokit, at: CheckRunAt, record: CheckRunRecord, now: () => number): Promise<number | null> {
  if (record.id !== null) return record.id;
  if (record.requestedAt === null) return null;
  const id = await findCheckRun(octokit, at);
  const lookedAt = now();
  if (id === null && lookedAt - record.requestedAt < LISTING_LAG_MS)
    throw new DeferredError(
      "GitHub does not list the check run an earlier create may have made yet; looking again",
      Math.min(lookedAt + LOOK_AGAIN_MS, record.requestedAt + LISTING_LAG_MS),
    );
  if (id !== null) await record.setId(id);
  return id;
}

/**
 * Creates the check run with its request recorded first, so that whichever try or process
 * comes next looks for it before creating another. A create that certainly did not go out
 * (put off for a rate limit) takes the record back, unless an earlier one was already sent.
 */
export async function createCheckRun(octokit: Octokit, at: CheckRunAt, record: CheckRunRecord, fields: CheckRunFields, now: () => number): Promise<number> {
  const first = record.requestedAt === null;
  if (first) await record.markRequested(now());
  try {
    const { data } = await octokit.rest.checks.create({
      owner: at.owner,
      repo: at.repo,
      name: at.name,
      head_sha: at.sha,
      external_id: at.externalId,
      ...fields,
    });
    await record.setId(data.id);
    return data.id;
  } catch (error) {
    if (first && error instanceof DeferredError) await record.markRequested(null);
    throw error;
  }
}

/**
 * kto's check run at `at`, if GitHub has one. It is looked for in kto's own check suite
 * rather than among the commit's check runs, which GitHub lists from only the latest 1,000
 * check suites (every workflow run adds one).
 */
async function findCheckRun(octokit: Octokit, at: CheckRunAt): Promise<number | null> {
  const where = { owner: at.owner, repo: at.repo };
  const suites = await octokit.paginate(octokit.rest.checks.listSuitesForRef, {
    ...where,
    ref: at.sha,
    per_page: 100,
    ...(at.appId !== null ? { app_id: at.appId } : {}),
  });
  let found: number | null = null;
  for (const suite of suites) {
    if (at.appId !== null && suite.app?.id !== at.appId) continue;
    const runs = await octokit.paginate(octokit.rest.checks.listForSuite, {
      ...where,
      check_suite_id: suite.id,
      check_name: at.name,
      filter: "all",
      per_page: 100,
    });
    for (const run of runs) if (run.external_id === at.externalId) found = Math.max(found ?? 0, run.id);
  }
  return found;
}

/** Those of `annotations` the check run does not have yet: each one there accounts for one copy. */
export async function annotationsNotThere(
  octokit: Octokit,
  where: { owner: string; repo: string },
  checkRunId: number,
  annotations: readonly Annotation[],
): Promise<Annotation[]> {
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
