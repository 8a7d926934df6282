import { labelKey } from "./labels.js";
import { JOB_STATES, type JobState } from "./job-state.js";
import type { Store } from "./store/store.js";

export interface StatusSnapshot {
  counts: Record<JobState, number>;
  submitted: number;
  waiting: number;
  active: number;
  finished: number;
  labels: { labels: string; queued: number; running: number; capacity: number; utilisation: number }[];
  environments: { id: string; labels: string[]; state: string; capacity: number; busy: number }[];
}

export interface Histogram {
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

const BUCKETS_MS = [100, 500, 1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000];

function histogram(values: number[]): Histogram {
  return {
    buckets: BUCKETS_MS.map((le) => ({ le, count: values.filter((v) => v <= le).length })),
    count: values.length,
    sum: values.reduce((a, b) => a + b, 0),
  };
}

/** Live counts, per-label depth and utilisation, and the wait/start/run histograms, read from the store. */
export class StatusTracker {
  constructor(private readonly store: Store) {}

  async snapshot(): Promise<StatusSnapshot> {
    const counts = await this.store.countsByState();
    const submitted = JOB_STATES.reduce((sum, s) => sum + counts[s], 0);
    const waiting = counts.awaiting_approval + counts.queued;
    const active = counts.dispatched + counts.running;
    const finished = counts.succeeded + counts.failed + counts.timed_out + counts.cancelled + counts.errored;
    const busy = await this.store.busyByEnvironment();
    const envs = await this.store.environments();
    const perLabel = new Map<string, { queued: number; running: number; capacity: number }>();
    const entry = (key: string) => {
      let e = perLabel.get(key);
      if (!e) perLabel.set(key, (e = { queued: 0, running: 0, capacity: 0 }));
      return e;
    };
    for (const job of await this.store.jobs({ states: ["queued", "dispatched", "running"] })) {
      const e = entry(labelKey(job.labels));
      if (job.state === "queued") e.queued += 1;
      else e.running += 1;
    }
    for (const env of envs) if (env.state === "online") entry(labelKey(env.labels)).capacity += env.capacity;
    return {
      counts,
      submitted,
      waiting,
      active,
      finished,
      labels: [...perLabel.entries()].map(([labels, e]) => ({ labels, ...e, utilisation: e.capacity ? e.running / e.capacity : 0 })),
      environments: envs.map((env) => ({ id: env.id, labels: env.labels, state: env.state, capacity: env.capacity, busy: busy.get(env.id) ?? 0 })),
    };
  }

  async histograms(): Promise<{ queueWaitMs: Histogram; startupMs: Histogram; runMs: Histogram }> {
    const jobs = await this.store.jobs();
    const wait: number[] = [];
    const startup: number[] = [];
    const run: number[] = [];
    for (const job of jobs) {
      if (job.dispatchedAt !== null) wait.push(job.dispatchedAt - job.queuedAt);
      if (job.startedAt !== null && job.dispatchedAt !== null) startup.push(job.startedAt - job.dispatchedAt);
      if (job.finishedAt !== null && job.startedAt !== null) run.push(job.finishedAt - job.startedAt);
    }
    return { queueWaitMs: histogram(wait), startupMs: histogram(startup), runMs: histogram(run) };
  }
}
