import { describe, expect, it } from "@jest/globals";
import { batchLeases } from "../../../src/orchestrator/dispatch-batches.js";
import type { DispatchBatching, Lease } from "../../../src/orchestrator/dispatcher.js";
import type { JobRecord, PlanRecord } from "../../../src/orchestrator/store/store.js";

/** A plan of repository `repo`: only its repository and trust matter to the batching below. */
const plan = (id: string, repo: string, trusted = true) => ({ id, repo, trusted }) as PlanRecord;
const lease = (id: string, planId: string): Lease => ({ job: { id, planId, attempt: 1 } as JobRecord, runnerId: `runner-${id}`, runnerLabels: [] });

const batching: DispatchBatching = {
  maxJobs: 3,
  maxChars: 10,
  entryChars: (l) => l.job.id.length,
  groupOf: (p) => `${p.repo}|${String(p.trusted)}`,
};

const ids = (batches: Lease[][]) => batches.map((batch) => batch.map((l) => l.job.id));

describe("a scheduling pass's leases cut into dispatches", () => {
  const plans = new Map([
    ["a1", plan("a1", "o/a")],
    ["a2", plan("a2", "o/a")],
    ["b", plan("b", "o/b")],
    ["held", plan("held", "o/a", false)],
  ]);

  it("puts the leases of one repository's plans in one dispatch, in the order leased, and another repository's or trust's in their own", () => {
    const leases = [lease("1", "a1"), lease("2", "b"), lease("3", "a2"), lease("4", "held")];
    expect(ids(batchLeases(leases, plans, batching))).toEqual([["1", "3"], ["2"], ["4"]]);
  });

  it("starts a new dispatch at maxJobs and before maxChars would be passed", () => {
    const byCount = ["1", "2", "3", "4"].map((id) => lease(id, "a1"));
    expect(ids(batchLeases(byCount, plans, batching))).toEqual([["1", "2", "3"], ["4"]]);
    const byChars = [lease("aaaa", "a1"), lease("bbbb", "a1"), lease("cccc", "a1")];
    expect(ids(batchLeases(byChars, plans, batching))).toEqual([["aaaa", "bbbb"], ["cccc"]]);
  });

  it("dispatches each lease alone without batching, or when its plan is unknown", () => {
    const leases = [lease("1", "a1"), lease("2", "a1"), lease("3", "gone"), lease("4", "gone")];
    expect(ids(batchLeases(leases, plans, undefined))).toEqual([["1"], ["2"], ["3"], ["4"]]);
    expect(ids(batchLeases(leases, plans, batching))).toEqual([["1", "2"], ["3"], ["4"]]);
  });
});
