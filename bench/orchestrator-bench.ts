import { planEffects } from "../src/orchestrator/job-lifecycle.js";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { JobSpec } from "../src/config/job-spec.js";
import { ManualClock } from "../src/orchestrator/clock.js";
import type { Dispatcher } from "../src/orchestrator/dispatcher.js";
import { labelsFit } from "../src/orchestrator/labels.js";
import type { RunnerPool } from "../src/orchestrator/resource-manager.js";
import { UNRESTRICTED } from "../src/orchestrator/scope.js";
import { OrchestratorService } from "../src/orchestrator/service.js";
import { openStore } from "../src/orchestrator/store/open-store.js";
import type { RunnerRecord, NewJob } from "../src/orchestrator/store/store.js";

export const LABEL_SETS = [["x86_64"], ["x86_64", "kvm"], ["x86_64", "kvm", "large"], ["arm64"], ["arm64", "kvm"], ["riscv64"], ["x86_64", "gpu"], ["s390x"]];

function spec(id: string, labels: string[], priority: number, timeoutMs = 3_600_000): JobSpec {
  return {
    id,
    slug: id,
    suite: "bench",
    matrix: {},
    runner: "docker",
    image: "kto/busybox:1",
    command: "true",
    env: {},
    results: "auto",
    labels,
    timeoutMs,
    retries: 0,
    priority,
    artifacts: [],
    network: false,
    arch: "x86_64",
    idleTimeoutMs: 60_000,
  };
}

function lcg(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

export function syntheticJobs(count: number, seed = 1): NewJob[] {
  const random = lcg(seed);
  return Array.from({ length: count }, (_, i) => {
    const labels = LABEL_SETS[Math.floor(random() * LABEL_SETS.length)]!;
    const priority = 1 + Math.floor(random() * 4);
    const id = `job-${i}`;
    return { id, name: id, spec: spec(id, labels, priority), labels, priority, maxAttempts: 3, retries: 0 };
  });
}

export function syntheticRunners(count: number): RunnerRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `env-${i}`,
    pool: "bench",
    labels: LABEL_SETS[i % LABEL_SETS.length]!,
    capacity: 1,
    state: "online" as const,
    lastSeen: 0,
    // The benchmark's jobs come from no repository.
    scope: UNRESTRICTED,
  }));
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export interface SchedulingFigures {
  decisions: number;
  perSecond: number;
  p99Ms: number;
}

class NullDispatcher implements Dispatcher {
  async dispatch() {
    return { runId: "r" };
  }
  async cancel() {}
}

/** kto's real path: 10,000 jobs in SQLite, ticks of the queue leader, each decision a store transaction. */
async function ktoScheduling(jobs: NewJob[], runners: RunnerRecord[]): Promise<SchedulingFigures> {
  const dir = await mkdtemp(join(tmpdir(), "kto-bench-store-"));
  const store = await openStore({ dataDir: dir, databaseUrl: "" });
  try {
    const clock = new ManualClock(0);
    const pool: RunnerPool = { name: "bench", list: async () => runners };
    const service = new OrchestratorService({ store, dispatcher: new NullDispatcher(), pools: [pool], clock, options: { owner: "bench" } });
    await service.syncRunners();
    await store.plans.submitPlan({ id: "bench", source: "bench", workspace: "/", approved: true, now: 0, jobs }, planEffects(false));
    const latencies: number[] = [];
    let decisions = 0;
    while (decisions < jobs.length) {
      const t0 = performance.now();
      const dispatched = await service.tick();
      const elapsed = performance.now() - t0;
      if (dispatched === 0) break;
      for (let i = 0; i < dispatched; i++) latencies.push(elapsed / dispatched);
      decisions += dispatched;
      for (const job of await store.jobs.list({ states: ["dispatched"] }))
        await service.recordRunEvent(job.id, job.attempt, { kind: "finished", status: "succeeded" });
    }
    const schedulingMs = latencies.reduce((a, b) => a + b, 0);
    return { decisions, perSecond: decisions / (schedulingMs / 1000), p99Ms: percentile(latencies, 99) };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The trivial scheduler: an in-memory array, each decision a scan for the best job that fits a free runner. */
function naiveScheduling(jobs: NewJob[], runners: RunnerRecord[]): SchedulingFigures {
  const queue = jobs.map((job, seq) => ({ ...job, seq }));
  const free = runners.map((env) => ({ ...env, busy: false }));
  const latencies: number[] = [];
  let decisions = 0;
  while (queue.length > 0) {
    let made = 0;
    for (;;) {
      const t0 = performance.now();
      let best = -1;
      let bestRunner = -1;
      for (let i = 0; i < queue.length; i++) {
        const job = queue[i]!;
        if (best >= 0 && (job.priority < queue[best]!.priority || (job.priority === queue[best]!.priority && job.seq > queue[best]!.seq))) continue;
        const env = free.findIndex((e) => !e.busy && labelsFit(job.labels, e.labels));
        if (env >= 0) {
          best = i;
          bestRunner = env;
        }
      }
      if (best < 0) {
        break;
      }
      free[bestRunner]!.busy = true;
      queue.splice(best, 1);
      latencies.push(performance.now() - t0);
      made += 1;
      decisions += 1;
    }
    if (made === 0) break;
    for (const env of free) env.busy = false;
  }
  const total = latencies.reduce((a, b) => a + b, 0);
  return { decisions, perSecond: decisions / (total / 1000), p99Ms: percentile(latencies, 99) };
}

export async function schedulingBenchmark(progress: (line: string) => void): Promise<{ kto: SchedulingFigures; naive: SchedulingFigures }> {
  const jobs = syntheticJobs(10_000);
  const runners = syntheticRunners(500);
  progress("scheduling: naive in-memory baseline, 10,000 jobs on 500 runners");
  const naive = naiveScheduling(jobs, runners);
  progress("scheduling: kto (SQLite store, one transaction per decision)");
  const kto = await ktoScheduling(jobs, runners);
  return { kto, naive };
}

/** A simulated day on a virtual clock: jobs arrive through the day with known durations. */
export async function makespanBenchmark(progress: (line: string) => void): Promise<{ makespanMs: number; lowerBoundMs: number; jobs: number }> {
  const random = lcg(42);
  const capacity = [4, 4, 4, 4, 4, 4, 4, 4];
  const runners: RunnerRecord[] = [];
  LABEL_SETS.forEach((labels, s) => {
    for (let i = 0; i < capacity[s]!; i++)
      runners.push({ id: `env-${s}-${i}`, pool: "sim", labels, capacity: 1, state: "online", lastSeen: 0, scope: UNRESTRICTED });
  });
  const arrivals = Array.from({ length: 1_500 }, (_, i) => {
    const set = Math.floor(random() * LABEL_SETS.length);
    const durationMs = (2 + Math.floor(random() * 28)) * 60_000;
    const at = Math.floor(random() * 16 * 3_600_000);
    return { id: `sim-${i}`, set, labels: LABEL_SETS[set]!, durationMs, at, priority: 1 + Math.floor(random() * 4) };
  }).sort((a, b) => a.at - b.at);

  // Lower bound per label set: for every arrival time t, t + (work arriving at or after t) / capacity.
  let lowerBoundMs = 0;
  LABEL_SETS.forEach((_, s) => {
    const mine = arrivals.filter((a) => a.set === s);
    let remaining = mine.reduce((sum, a) => sum + a.durationMs, 0);
    for (const a of mine) {
      lowerBoundMs = Math.max(lowerBoundMs, a.at + remaining / capacity[s]!, a.at + a.durationMs);
      remaining -= a.durationMs;
    }
  });

  const dir = await mkdtemp(join(tmpdir(), "kto-bench-sim-"));
  const store = await openStore({ dataDir: dir, databaseUrl: "" });
  try {
    const clock = new ManualClock(0);
    const running: { at: number; id: string; attempt: number }[] = [];
    const durations = new Map(arrivals.map((a) => [a.id, a.durationMs]));
    const dispatcher: Dispatcher = {
      async dispatch({ key, entries }) {
        for (const { job } of entries) running.push({ at: clock.now() + durations.get(job.id)!, id: job.id, attempt: job.attempt });
        return { runId: key };
      },
      async cancel() {},
    };
    const service = new OrchestratorService({
      store,
      dispatcher,
      pools: [{ name: "sim", list: async () => runners }],
      clock,
      options: { owner: "sim", lifecycle: { leaseMs: 10 * 3_600_000, deadlineGraceMs: 3_600_000, retryBackoffMs: 1_000, maxBackoffMs: 1_000 } },
    });
    await service.syncRunners();
    let next = 0;
    let finished = 0;
    let makespanMs = 0;
    let reported = 0;
    while (finished < arrivals.length) {
      const nextArrival = arrivals[next]?.at ?? Infinity;
      const nextFinish = running.reduce((min, r) => Math.min(min, r.at), Infinity);
      const at = Math.min(nextArrival, nextFinish);
      clock.advance(at - clock.now());
      const batch: NewJob[] = [];
      while (next < arrivals.length && arrivals[next]!.at <= at) {
        const a = arrivals[next++]!;
        batch.push({
          id: a.id,
          name: a.id,
          spec: spec(a.id, a.labels, a.priority, 3_600_000),
          labels: a.labels,
          priority: a.priority,
          maxAttempts: 1,
          retries: 0,
        });
      }
      if (batch.length)
        await store.plans.submitPlan({ id: `arrivals-${at}`, source: "sim", workspace: "/", approved: true, now: at, jobs: batch }, planEffects(false));
      for (const done of running.filter((r) => r.at <= at)) {
        running.splice(running.indexOf(done), 1);
        await service.recordRunEvent(done.id, done.attempt, { kind: "started" });
        await service.recordRunEvent(done.id, done.attempt, { kind: "finished", status: "succeeded" });
        finished += 1;
        makespanMs = Math.max(makespanMs, at);
      }
      await service.tick();
      await service.sendDue();
      if (finished - reported >= 250) {
        reported = finished;
        progress(`makespan: ${finished}/${arrivals.length} jobs done at ${(clock.now() / 3_600_000).toFixed(1)} h of simulated time`);
      }
    }
    return { makespanMs, lowerBoundMs, jobs: arrivals.length };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Peak RSS of a fresh process holding 10,000 queued jobs: kto's store and queue, and the naive array. */
export function memoryBenchmark(): { ktoBytes: number; naiveBytes: number } {
  const script = fileURLToPath(new URL("./memory-child.js", import.meta.url));
  const measure = (mode: string) => Number(execFileSync(process.execPath, [script, mode], { encoding: "utf8" }).trim());
  return { ktoBytes: measure("kto"), naiveBytes: measure("naive") };
}
