import client from "prom-client";
import { labelKey } from "./labels.js";
import { JOB_STATES, TERMINAL_STATES, isTerminal, type JobState } from "./job-state.js";
import type { JobRecord, Store } from "./store/store.js";

export interface StatusSnapshot {
  counts: Record<JobState, number>;
  submitted: number;
  waiting: number;
  active: number;
  finished: number;
  labels: { labels: string; queued: number; running: number; capacity: number; utilisation: number }[];
  runners: { id: string; labels: string[]; state: string; capacity: number; busy: number }[];
}

export interface Histogram {
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

export const BUCKETS_MS = [100, 500, 1_000, 5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000];

/**
 * Live counts, per-label depth and utilisation, read from the store with aggregates (no
 * job is loaded); and the wait, start and run histograms, observed as jobs move.
 */
export class StatusTracker {
  /** prom-client's registry of the histograms: the App's metrics route serves it. */
  readonly registry = new client.Registry();
  private readonly queueWait = this.histogram("kto_queue_wait_seconds", "Time from queued to dispatched");
  private readonly startup = this.histogram("kto_startup_seconds", "Time from dispatched to the run's start");
  private readonly run = this.histogram("kto_run_seconds", "Time from the run's start to the job's end");

  constructor(private readonly store: Store) {}

  private histogram(name: string, help: string): client.Histogram {
    return new client.Histogram({ name, help, buckets: BUCKETS_MS.map((ms) => ms / 1000), registers: [this.registry] });
  }

  /** A job the lifecycle just moved, as it is now: the step it finished is observed. */
  observe(job: JobRecord): void {
    if (job.state === "dispatched" && job.dispatchedAt !== null) this.queueWait.observe((job.dispatchedAt - job.queuedAt) / 1000);
    else if (job.state === "running" && job.startedAt !== null && job.dispatchedAt !== null) this.startup.observe((job.startedAt - job.dispatchedAt) / 1000);
    else if (isTerminal(job.state) && job.finishedAt !== null && job.startedAt !== null) this.run.observe((job.finishedAt - job.startedAt) / 1000);
  }

  async snapshot(): Promise<StatusSnapshot> {
    const counts = await this.store.jobs.countsByState();
    const submitted = JOB_STATES.reduce((sum, s) => sum + counts[s], 0);
    const waiting = counts.awaiting_approval + counts.waiting + counts.queued;
    const active = counts.dispatched + counts.running;
    const finished = TERMINAL_STATES.reduce((sum, s) => sum + counts[s], 0);
    const busy = await this.store.jobs.busyByRunner();
    const runners = await this.store.runners.list();
    const perLabel = new Map<string, { queued: number; running: number; capacity: number }>();
    const entry = (key: string) => {
      let e = perLabel.get(key);
      if (!e) perLabel.set(key, (e = { queued: 0, running: 0, capacity: 0 }));
      return e;
    };
    for (const depth of await this.store.jobs.depthByLabels()) {
      const e = entry(labelKey(JSON.parse(depth.labels) as string[]));
      e.queued += depth.queued;
      e.running += depth.active;
    }
    for (const env of runners) if (env.state === "online") entry(labelKey(env.labels)).capacity += env.capacity;
    return {
      counts,
      submitted,
      waiting,
      active,
      finished,
      labels: [...perLabel.entries()].map(([labels, e]) => ({ labels, ...e, utilisation: e.capacity ? e.running / e.capacity : 0 })),
      runners: runners.map((env) => ({ id: env.id, labels: env.labels, state: env.state, capacity: env.capacity, busy: busy.get(env.id) ?? 0 })),
    };
  }

  /** The same three distributions over every job the store holds, counted by the database: for `kto status`. */
  async histograms(): Promise<{ queueWaitMs: Histogram; startupMs: Histogram; runMs: Histogram }> {
    return {
      queueWaitMs: await this.store.jobs.durationHistogram("queued_at", "dispatched_at", BUCKETS_MS),
      startupMs: await this.store.jobs.durationHistogram("dispatched_at", "started_at", BUCKETS_MS),
      runMs: await this.store.jobs.durationHistogram("started_at", "finished_at", BUCKETS_MS),
    };
  }
}
