import type { DispatchBatching, Lease } from "./dispatcher.js";
import type { PlanRecord } from "./store/store.js";

/**
 * A scheduling pass's leases cut into dispatches: leases of plans in the same batching
 * group share one in the order they were leased, until the next would pass `maxJobs` or
 * `maxChars`. Without batching, or for a job whose plan is unknown, each lease is its own.
 */
export function batchLeases(leases: readonly Lease[], plans: ReadonlyMap<string, PlanRecord>, batching: DispatchBatching | undefined): Lease[][] {
  if (!batching) return leases.map((lease) => [lease]);
  const open = new Map<string, { leases: Lease[]; chars: number }>();
  const batches: Lease[][] = [];
  for (const lease of leases) {
    const plan = plans.get(lease.job.planId);
    if (!plan) {
      batches.push([lease]);
      continue;
    }
    const group = batching.groupOf(plan);
    const chars = batching.entryChars(lease, plan);
    let batch = open.get(group);
    if (!batch || batch.leases.length >= batching.maxJobs || batch.chars + chars > batching.maxChars) {
      batch = { leases: [], chars: 0 };
      open.set(group, batch);
      batches.push(batch.leases);
    }
    batch.leases.push(lease);
    batch.chars += chars;
  }
  return batches;
}
