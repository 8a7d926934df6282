import { describe, expect, it } from "@jest/globals";
import { activityData } from "../../../src/app/http/dashboard-activity.js";
import type { JobRecord, JobReads } from "../../../src/orchestrator/store/store.js";

const HOUR = 3_600_000;
const NOW = 100 * HOUR;

/** The fields the plots read; the rest of a job does not matter to them. */
const job = (fields: Partial<JobRecord>) =>
  ({ labels: ["x86_64"], runnerId: null, queuedAt: 0, dispatchedAt: null, startedAt: null, finishedAt: null, outcome: null, ...fields }) as JobRecord;

function reads(jobs: JobRecord[], runners: string[]): JobReads {
  return {
    jobs: { activeBetween: async () => jobs },
    runners: { list: async () => runners.map((id) => ({ id, labels: [`kto-runner-${id.split(":").at(-1)}`], state: "online" })) },
  } as unknown as JobReads;
}

describe("the dashboard's plots", () => {
  it("counts the queue, the wait per label set, the runners' busy share and each host's infrastructure faults over the window", async () => {
    const jobs = [
      // Waited an hour, then ran two hours on rack-1 and failed for its host.
      job({ queuedAt: NOW - 4 * HOUR, dispatchedAt: NOW - 3 * HOUR, finishedAt: NOW - HOUR, runnerId: "r:rack-1", outcome: "infrastructure" }),
      // Still waiting since two hours ago.
      job({ labels: ["arm64"], queuedAt: NOW - 2 * HOUR }),
    ];
    const data = await activityData(reads(jobs, ["r:rack-1", "r:rack-2"]), NOW, 6);
    const at = (hoursAgo: number) => data.times.indexOf(Math.round((NOW - hoursAgo * HOUR) / 1000));
    expect(data.times).toHaveLength(73);
    expect(data.queueDepth[at(6)]).toBe(0);
    expect(data.queueDepth[at(3.5)]).toBe(1);
    expect(data.queueDepth[at(2.5)]).toBe(0);
    expect(data.queueDepth[at(0)]).toBe(1);
    expect(data.utilisation[at(2)]).toBe(50);
    expect(data.utilisation[at(0)]).toBe(0);
    expect(data.runners).toBe(2);
    expect(data.waits).toEqual([{ labels: "x86_64", seconds: data.times.map((_, i) => (i === at(3) ? 3600 : null)) }]);
    expect(data.faults.map((f) => [f.host, f.total, f.counts[at(1)]])).toEqual([["rack-1", 1, 1]]);
    expect(data.truncated).toBe(false);
  });
});
