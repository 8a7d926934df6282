import { fits } from "./placement.js";
import type { FreeRunner } from "./scheduler.js";
import type { JobRecord, Store } from "./store/store.js";

/**
 * What a scheduling pass needs of the queue: for each lane (queued jobs of one label set and
 * one repository, which fit the same runners), its first k dispatchable jobs in
 * dispatch order, where k is how many free slots that lane fits. A later job of the lane
 * could get a slot only if one of those k did not take it, and a job takes any fitting
 * slot that is free: so the pass reads what it can decide, not the whole queue. Lanes are
 * per repository as well as per label set, so that jobs no free runner may take (another
 * repository's runners) do not fill a lane's head and hide jobs behind them that could run.
 */
export async function queueHead(store: Store, free: readonly FreeRunner[], now: number): Promise<JobRecord[]> {
  const head: JobRecord[] = [];
  for (const lane of await store.jobs.queuedLanes()) {
    const placeable = { labels: JSON.parse(lane.labels) as string[], repo: lane.repo, repoPrivate: lane.repoPrivate };
    const slots = free.reduce((n, env) => n + (fits(placeable, env) ? env.free : 0), 0);
    if (slots > 0) head.push(...(await store.jobs.dispatchableWith(lane, now, slots)));
  }
  return head.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
}

/**
 * Whether a per-repository cap may have passed over a job of the head: one left
 * unassigned whose repository ends the pass at its cap. Then a job further back, of
 * another repository, might have taken that slot, and the pass must see the whole queue.
 */
export function capMayHaveSkipped(
  head: readonly JobRecord[],
  assigned: ReadonlySet<string>,
  repoCap: number,
  activeByRepo: ReadonlyMap<string, number>,
): boolean {
  const holding = new Map(activeByRepo);
  for (const job of head) if (assigned.has(job.id) && job.repo !== null) holding.set(job.repo, (holding.get(job.repo) ?? 0) + 1);
  return head.some((job) => !assigned.has(job.id) && job.repo !== null && (holding.get(job.repo) ?? 0) >= repoCap);
}
