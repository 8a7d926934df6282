import type { JobRecord } from "../../orchestrator/store/records.js";
import type { JobReads } from "../../orchestrator/store/store.js";
import { RUNNER_LABEL_PREFIX, runnerOf, uniqueRunnerLabel } from "../github/github-runner-pool.js";

/** Points per plot: 72 steps (5 minutes in 6 hours, 20 in a day), enough to see a morning's queue, few enough to send every poll. */
const POINTS = 73;
/** Jobs read for a window: a busy week's worth; beyond it the oldest fall off the plots. */
export const ACTIVITY_JOBS = 20_000;
/** Label sets and hosts drawn as their own series; the rest are summed into "other". */
const SERIES = 6;
const HOUR_MS = 3_600_000;

/** The dashboard's plots over a window: per point, at its time. */
export interface ActivityData {
  from: number;
  to: number;
  /** Each point's time, in seconds (as uPlot takes them). */
  times: number[];
  /** Jobs waiting for a runner (or a build, or an approval) at each time. */
  queueDepth: number[];
  /** Mean wait from queued to dispatched of the jobs dispatched in each step, in seconds, per label set. */
  waits: { labels: string; seconds: (number | null)[] }[];
  /** Share of runners busy at each time, in percent. */
  utilisation: number[];
  runners: number;
  /** Attempts that ended for a fault of their host (outcome infrastructure), per step and in all, per host. */
  faults: { host: string; total: number; counts: number[] }[];
  /** Whether the window held more jobs than were read. */
  truncated: boolean;
}

/** The queue, the runners and their faults over the last `hours`, from the jobs table (bounded). */
export async function activityData(reads: JobReads, now: number, hours: number): Promise<ActivityData> {
  const from = now - hours * HOUR_MS;
  const step = (now - from) / (POINTS - 1);
  const times = Array.from({ length: POINTS }, (_, i) => from + i * step);
  const jobs = await reads.jobs.activeBetween(from, now, ACTIVITY_JOBS);
  const runners = await reads.runners.list();
  const nameOf = (runnerId: string) =>
    uniqueRunnerLabel(runners.find((r) => r.id === runnerId)?.labels ?? [])?.slice(RUNNER_LABEL_PREFIX.length) ?? runnerOf(runnerId);

  const within = (t: number, start: number | null, end: number | null) => start !== null && start <= t && t < (end ?? now + 1);
  const queueEnd = (j: JobRecord) => j.dispatchedAt ?? j.finishedAt;
  const queueDepth = times.map((t) => jobs.filter((j) => within(t, j.queuedAt, queueEnd(j))).length);
  const busy = times.map((t) => new Set(jobs.filter((j) => j.runnerId !== null && within(t, j.dispatchedAt, j.finishedAt)).map((j) => j.runnerId)).size);
  const seenRunners = new Set(jobs.flatMap((j) => (j.runnerId !== null && j.dispatchedAt !== null ? [j.runnerId] : [])));
  const capacity = Math.max(runners.length, seenRunners.size, 1);
  const stepOf = (t: number) => Math.min(POINTS - 1, Math.max(0, Math.round((t - from) / step)));

  const waitSums = new Map<string, { sum: number[]; n: number[]; total: number }>();
  for (const j of jobs) {
    if (j.dispatchedAt === null || j.dispatchedAt < from) continue;
    const key = j.labels.join(", ") || "(no labels)";
    const entry = waitSums.get(key) ?? { sum: Array<number>(POINTS).fill(0), n: Array<number>(POINTS).fill(0), total: 0 };
    const i = stepOf(j.dispatchedAt);
    entry.sum[i]! += Math.max(0, j.dispatchedAt - j.queuedAt) / 1000;
    entry.n[i]! += 1;
    entry.total += 1;
    waitSums.set(key, entry);
  }
  const waits = [...waitSums]
    .sort((a, b) => b[1].total - a[1].total)
    .slice(0, SERIES)
    .map(([labels, e]) => ({ labels, seconds: e.sum.map((s, i) => (e.n[i] ? Math.round(s / e.n[i]!) : null)) }));

  const faultCounts = new Map<string, number[]>();
  for (const j of jobs) {
    if (j.outcome !== "infrastructure" || j.finishedAt === null || j.finishedAt < from) continue;
    const host = j.runnerId ? nameOf(j.runnerId) : "(no runner)";
    const counts = faultCounts.get(host) ?? Array<number>(POINTS).fill(0);
    counts[stepOf(j.finishedAt)]! += 1;
    faultCounts.set(host, counts);
  }
  const hosts = [...faultCounts].map(([host, counts]) => ({ host, total: counts.reduce((a, b) => a + b, 0), counts })).sort((a, b) => b.total - a.total);
  const faults = hosts.slice(0, SERIES);
  if (hosts.length > SERIES) {
    const rest = hosts.slice(SERIES);
    faults.push({ host: "other", total: rest.reduce((n, h) => n + h.total, 0), counts: times.map((_, i) => rest.reduce((n, h) => n + h.counts[i]!, 0)) });
  }
  return {
    from,
    to: now,
    times: times.map((t) => Math.round(t / 1000)),
    queueDepth,
    waits,
    utilisation: busy.map((b) => Math.round((100 * b) / capacity)),
    runners: capacity,
    faults,
    truncated: jobs.length >= ACTIVITY_JOBS,
  };
}
