import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { ManualClock } from "../../src/orchestrator/clock.js";
import type { DispatchBatching } from "../../src/orchestrator/dispatcher.js";
import { isTerminal } from "../../src/orchestrator/job-state.js";
import { labelsFit } from "../../src/orchestrator/labels.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import type { RunnerRecord, JobRecord, Store } from "../../src/orchestrator/store/store.js";
import type { NewJob } from "../../src/orchestrator/store/store.js";
import { RecordingDispatcher, StaticPool, storeBuild, storeDependent, storeJob } from "../helpers/orchestrator.js";
import { githubRoutes, homes, ORIGINS, scopeOf, type Home } from "../helpers/runner-homes.js";
import { ENGINES, freshStore, type EngineName } from "../helpers/stores.js";

const LABEL_SETS = [[], ["x86_64"], ["x86_64", "kvm"], ["arm64"], ["gpu"]];
const ENV_LABELS = [["x86_64"], ["x86_64", "kvm"], ["arm64"], ["x86_64", "kvm", "gpu"]];
/** A replacement keeps its runner's home: `env3-1000-r1-r2` is where `env3-1000` was. */
const homeOf = (real: Real, runnerId: string) => real.homes.get(runnerId.replace(/(-r\d+)+$/, ""))!;

interface Real {
  store: Store;
  service: OrchestratorService;
  clock: ManualClock;
  pool: StaticPool;
  dispatcher: RecordingDispatcher;
  submitted: number;
  plans: number;
  /** Each runner's home, by the id it was added with. */
  homes: Map<string, Home>;
}

type Model = { submitted: number };

/** Invariants that hold after every command: Properties 2, 2b, 3, 11 and 14. */
async function checkInvariants(real: Real): Promise<void> {
  const jobs = await real.store.jobs.list();
  const runners = new Map((await real.store.runners.list()).map((e) => [e.id, e]));
  const busy = new Map<string, number>();
  for (const job of jobs) {
    if (job.state === "dispatched" || job.state === "running") {
      // Property 2: a job only ever runs where its labels ⊆ the runner's.
      const env = runners.get(job.runnerId!);
      expect(env).toBeDefined();
      expect(labelsFit(job.labels, env!.labels)).toBe(true);
      // Property 2b: no lease ever crosses a scope: GitHub would give the job's repository that runner.
      expect({ job: job.id, repo: job.repo, env: job.runnerId, routed: githubRoutes(homeOf(real, job.runnerId!), job) }).toMatchObject({ routed: true });
      busy.set(job.runnerId!, (busy.get(job.runnerId!) ?? 0) + 1);
      expect(job.leaseExpires).not.toBeNull();
    }
    // Property 11: a finished job holds no lease.
    if (isTerminal(job.state)) expect(job.leaseExpires).toBeNull();
  }
  for (const [runnerId, n] of busy) expect(n).toBeLessThanOrEqual(runners.get(runnerId)!.capacity);
  expect(await real.store.jobs.busyByRunner()).toEqual(busy);
  // Property 3: active + waiting + finished always equals jobs submitted. Each part is
  // checked against the jobs themselves, so a job counted twice, in the wrong part, or
  // lost fails here, not only a sum that is whole by construction.
  const status = await real.service.status.snapshot();
  expect(jobs).toHaveLength(real.submitted);
  const inStates = (...states: string[]) => jobs.filter((job) => states.includes(job.state)).length;
  expect(status.waiting).toBe(inStates("awaiting_approval", "waiting", "queued"));
  expect(status.active).toBe(inStates("dispatched", "running"));
  expect(status.finished).toBe(jobs.filter((job) => isTerminal(job.state)).length);
  expect(status.active + status.waiting + status.finished).toBe(real.submitted);
  expect(status.submitted).toBe(real.submitted);
  checkDependencies(jobs);
}

/** What Property 15 runs with: up to two jobs of one repository in a dispatch, and a small characters budget. */
const BATCHING: DispatchBatching = {
  maxJobs: 2,
  maxChars: 100,
  entryChars: (lease) => lease.job.id.length + lease.runnerId.length,
  groupOf: (plan) => plan.repo ?? "",
};

/**
 * Property 15: dispatch batches. Once a pass's dispatches went out, every leased job is in
 * exactly one dispatch at its attempt, bound to the runner it was leased; a dispatch holds
 * jobs of one repository, at most `maxJobs` of them, within `maxChars`.
 */
function checkBatches(real: Real, jobs: readonly JobRecord[]): void {
  for (const batch of real.dispatcher.batches) {
    expect(batch.entries.length).toBeLessThanOrEqual(BATCHING.maxJobs);
    expect(new Set(batch.entries.map((e) => e.job.repo)).size).toBe(1);
    expect(batch.entries.reduce((n, e) => n + e.job.id.length + e.runnerId.length, 0)).toBeLessThanOrEqual(BATCHING.maxChars);
  }
  for (const job of jobs) {
    if (job.state !== "dispatched" && job.state !== "running") continue;
    const carried = real.dispatcher.dispatched.filter((d) => d.job.id === job.id && d.job.attempt === job.attempt);
    expect({ job: job.id, attempt: job.attempt, dispatches: carried.length }).toEqual({ job: job.id, attempt: job.attempt, dispatches: 1 });
    expect(carried[0]!.runnerId).toBe(job.runnerId);
  }
}

/**
 * Property 14: build dependencies. No job that boots a build ever reaches the queue (let
 * alone a runner) before that build succeeded; every one whose build ended otherwise ends
 * skipped, unless it was cancelled before; and none waits for a build that has ended.
 */
function checkDependencies(jobs: readonly JobRecord[]): void {
  const byId = new Map(jobs.map((job) => [job.id, job]));
  for (const job of jobs) {
    if (job.needsJobId === null) continue;
    const build = byId.get(job.needsJobId)!;
    const where = { job: job.id, state: job.state, build: build.state };
    const queuedOnce = job.queuedAt !== job.createdAt || job.dispatchedAt !== null || !["waiting", "cancelled", "skipped"].includes(job.state);
    if (queuedOnce) expect({ ...where, buildSucceeded: build.state === "succeeded" }).toMatchObject({ buildSucceeded: true });
    if (job.dispatchedAt !== null) expect(job.dispatchedAt).toBeGreaterThanOrEqual(build.finishedAt!);
    if (!isTerminal(build.state)) expect(["waiting", "cancelled"]).toContain(job.state);
    else if (build.state !== "succeeded") {
      expect({ ...where, ended: ["skipped", "cancelled"].includes(job.state) }).toMatchObject({ ended: true });
      if (job.state === "cancelled") expect(job.finishedAt!).toBeLessThanOrEqual(build.finishedAt!);
    }
    if (job.state === "skipped")
      expect({ ...where, reason: job.reason }).toMatchObject({ reason: expect.stringMatching(/^build \S+ (failed|timed out|was cancelled|errored)/) });
  }
}

/** A plan's job; `boots` makes it boot the plan's build, when the plan has one. */
type PlannedJob = { labels: string[]; priority: number; boots?: boolean };

class Submit implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly origin: (typeof ORIGINS)[number],
    readonly jobs: PlannedJob[],
    readonly build: { labels: string[]; priority: number } | null = null,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const plan = `p${real.plans++}`;
    await real.service.submit({
      id: plan,
      source: "kto.yml",
      workspace: "/w",
      ...(this.origin.repo === null ? {} : { repo: this.origin.repo, repoPrivate: this.origin.repoPrivate }),
      approved: true,
      now: real.clock.now(),
      jobs: this.planned(plan),
    });
    const submitted = this.jobs.length + (this.build ? 1 : 0);
    real.submitted += submitted;
    model.submitted += submitted;
    await checkInvariants(real);
  }
  private planned(plan: string): NewJob[] {
    const build = this.build;
    const jobs = this.jobs.map((j, i) =>
      build && j.boots ? storeDependent(`${plan}-${i}`, `${plan}-build`, j.labels, j.priority) : storeJob(`${plan}-${i}`, j.labels, j.priority),
    );
    return build ? [...jobs, storeBuild(`${plan}-b`, `${plan}-build`, build.labels, build.priority)] : jobs;
  }
  toString = () => `submit(${this.origin.repo ?? "local"}, ${JSON.stringify(this.jobs)}, build ${JSON.stringify(this.build)})`;
}

class AddRunner implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly labels: string[],
    readonly capacity: number,
    readonly home: Home,
  ) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const id = `env${real.pool.runners.length}-${real.clock.now()}`;
    real.homes.set(id, this.home);
    real.pool.add(id, this.labels, this.capacity, { scope: scopeOf(this.home) });
    await real.service.syncRunners();
    await checkInvariants(real);
  }
  toString = () => `addRunner(${this.labels},${this.capacity},${JSON.stringify(this.home)})`;
}

/** Properties 8 and 9 are checked on each scheduling pass. */
class Tick implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const before = new Set((await real.store.jobs.list({ states: ["queued"] })).map((j) => j.id));
    await real.service.tick();
    await real.service.sendDue();
    const jobs = await real.store.jobs.list();
    const stillQueued = jobs.filter((j) => j.state === "queued" && j.notBefore <= real.clock.now());
    const now = jobs.filter((j) => before.has(j.id) && j.state === "dispatched");
    const runners = await real.store.runners.list();
    const busy = await real.store.jobs.busyByRunner();
    const fits = (job: JobRecord, env: RunnerRecord) => labelsFit(job.labels, env.labels) && githubRoutes(homeOf(real, env.id), job);
    for (const waiting of stillQueued) {
      // Work-conserving: nothing that fits a free runner is left waiting, whatever waits for other repositories' runners ahead of it.
      const free = runners.filter((e) => e.state === "online" && e.capacity > (busy.get(e.id) ?? 0) && fits(waiting, e));
      expect(free.map((e) => e.id)).toEqual([]);
      for (const taken of now) {
        const env = runners.find((e) => e.id === taken.runnerId)!;
        if (!fits(waiting, env)) continue;
        // Property 8: never a lower priority over a higher one that fit the same runner.
        expect(taken.priority).toBeGreaterThanOrEqual(waiting.priority);
        // Property 9: among equal priorities, arrival order.
        if (taken.priority === waiting.priority) expect(taken.seq).toBeLessThan(waiting.seq);
      }
    }
    await checkInvariants(real);
    if (real.dispatcher.batching) checkBatches(real, await real.store.jobs.list());
  }
  toString = () => "tick";
}

class Report implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly outcome: "started" | "succeeded" | "failed" | "infrastructure",
  ) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const active = await real.store.jobs.list({ states: ["dispatched", "running"] });
    if (active.length === 0) return;
    const job = active[this.pick % active.length]!;
    if (this.outcome === "started") await real.service.recordRunEvent(job.id, job.attempt, { kind: "started" });
    else if (this.outcome === "infrastructure")
      await real.service.recordRunEvent(job.id, job.attempt, { kind: "finished", status: "errored", infrastructure: true, reason: "runner lost" });
    else await real.service.recordRunEvent(job.id, job.attempt, { kind: "finished", status: this.outcome });
    await checkInvariants(real);
  }
  toString = () => `report(${this.pick},${this.outcome})`;
}

/** A build under way ends: the one that decides whether its dependents run. */
class FinishBuild implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly status: "succeeded" | "failed" | "timed_out",
  ) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const active = (await real.store.jobs.list({ states: ["dispatched", "running"] })).filter((job) => job.spec.runner === "build");
    if (active.length === 0) return;
    const build = active[this.pick % active.length]!;
    await real.service.recordRunEvent(build.id, build.attempt, { kind: "finished", status: this.status, reason: `${this.status} in a test` });
    await checkInvariants(real);
  }
  toString = () => `finishBuild(${this.pick},${this.status})`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    real.clock.advance(this.ms);
    await real.service.tick();
    await checkInvariants(real);
  }
  toString = () => `advance(${this.ms})`;
}

class FailRunner implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const online = real.pool.runners.filter((e) => real.pool.healthy.has(e.id));
    if (online.length === 0) return;
    real.pool.healthy.delete(online[this.pick % online.length]!.id);
    await real.service.checkRunners();
    await checkInvariants(real);
  }
  toString = () => `failRunner(${this.pick})`;
}

class Cancel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const open = (await real.store.jobs.list()).filter((j) => !isTerminal(j.state));
    if (open.length === 0) return;
    await real.service.cancelJobs([open[this.pick % open.length]!], "test");
    await checkInvariants(real);
  }
  toString = () => `cancel(${this.pick})`;
}

const plannedJobs = fc.array(fc.record({ labels: fc.constantFrom(...LABEL_SETS), priority: fc.integer({ min: 1, max: 4 }), boots: fc.boolean() }), {
  minLength: 1,
  maxLength: 6,
});
const plannedBuild = fc.option(fc.record({ labels: fc.constantFrom(...LABEL_SETS), priority: fc.integer({ min: 1, max: 4 }) }), { nil: null });

const commands = [
  fc.tuple(fc.constantFrom(...ORIGINS), plannedJobs, plannedBuild).map(([origin, jobs, build]) => new Submit(origin, jobs, build)),
  fc.tuple(fc.constantFrom(...ENV_LABELS), fc.integer({ min: 1, max: 3 }), homes).map(([labels, capacity, home]) => new AddRunner(labels, capacity, home)),
  fc.constant(new Tick()),
  fc.tuple(fc.nat(), fc.constantFrom("started" as const, "succeeded" as const, "failed" as const, "infrastructure" as const)).map(([p, o]) => new Report(p, o)),
  fc.tuple(fc.nat(), fc.constantFrom("succeeded" as const, "failed" as const, "timed_out" as const)).map(([p, s]) => new FinishBuild(p, s)),
  fc.integer({ min: 1_000, max: 400_000 }).map((ms) => new Advance(ms)),
  fc.nat().map((p) => new FailRunner(p)),
  fc.nat().map((p) => new Cancel(p)),
];

async function setup(engine: EngineName, batching?: DispatchBatching) {
  const fresh = await freshStore(engine);
  const clock = new ManualClock(1_000_000);
  const pool = new StaticPool();
  const dispatcher = new RecordingDispatcher(batching);
  const service = new OrchestratorService({
    store: fresh.store,
    dispatcher,
    pools: [pool],
    clock,
    options: { owner: "test", lifecycle: { leaseMs: 120_000, deadlineGraceMs: 30_000, retryBackoffMs: 1_000, maxBackoffMs: 10_000 } },
  });
  const real: Real = { store: fresh.store, service, clock, pool, dispatcher, submitted: 0, plans: 0, homes: new Map() };
  return { real, dispose: fresh.dispose };
}

describe.each(ENGINES)("orchestrator on %s, model-based", (engine) => {
  const runs = engine === "sqlite" ? 40 : 15;

  it("Property 2: allocation matching, Property 2b: no lease ever crosses a scope, Property 3: status consistency, Property 8: priority ordering, Property 9: FIFO among equal priorities, Property 11: resource recovery, Property 14: build dependencies — over any command sequence, plans with builds and jobs that boot them among them", async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
        const { real, dispose } = await setup(engine);
        try {
          await fc.asyncModelRun(() => ({ model: { submitted: 0 }, real }), cmds);
          // Property 11, to the end: finish or fail everything that remains; every lease comes back.
          for (let round = 0; round < 20; round++) {
            const active = await real.store.jobs.list({ states: ["dispatched", "running"] });
            for (const job of active) await real.service.recordRunEvent(job.id, job.attempt, { kind: "finished", status: "succeeded" });
            real.clock.advance(20_000);
            await real.service.tick();
          }
          for (const job of await real.store.jobs.list({ states: ["waiting", "queued", "dispatched", "running"] }))
            await real.service.cancelJobs([job], "end of test");
          expect(await real.store.jobs.busyByRunner()).toEqual(new Map());
          await checkInvariants(real);
          expect(real.dispatcher.duplicates).toBe(0);
        } finally {
          // Reports and passes start deliveries they do not wait for: the last one ends before the database goes.
          await real.service.sendDue();
          await dispose();
        }
      }),
      { numRuns: runs },
    );
  });

  it("Property 15: dispatch batches — every leased job is in exactly one dispatch, bound to its runner, with the other properties holding as jobs are leased several to a dispatch", async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
        const { real, dispose } = await setup(engine, BATCHING);
        try {
          await fc.asyncModelRun(() => ({ model: { submitted: 0 }, real }), cmds);
          // Property 11, to the end: finish or fail everything that remains; every lease comes back.
          for (let round = 0; round < 20; round++) {
            const active = await real.store.jobs.list({ states: ["dispatched", "running"] });
            for (const job of active) await real.service.recordRunEvent(job.id, job.attempt, { kind: "finished", status: "succeeded" });
            real.clock.advance(20_000);
            await real.service.tick();
          }
          for (const job of await real.store.jobs.list({ states: ["waiting", "queued", "dispatched", "running"] }))
            await real.service.cancelJobs([job], "end of test");
          expect(await real.store.jobs.busyByRunner()).toEqual(new Map());
          await checkInvariants(real);
          expect(real.dispatcher.duplicates).toBe(0);
        } finally {
          // Reports and passes start deliveries they do not wait for: the last one ends before the database goes.
          await real.service.sendDue();
          await dispose();
        }
      }),
      { numRuns: runs },
    );
  });

  it("Property 2b: no lease ever crosses a scope — one pass over random repositories, runners, runner groups and label sets", async () => {
    const jobs = fc.array(fc.record({ labels: fc.constantFrom(...LABEL_SETS), priority: fc.integer({ min: 1, max: 4 }), boots: fc.boolean() }), {
      minLength: 1,
      maxLength: 4,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...ORIGINS), jobs, plannedBuild), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.constantFrom(...ENV_LABELS), fc.integer({ min: 1, max: 2 }), homes), { minLength: 1, maxLength: 5 }),
        async (plans, runners) => {
          const { real, dispose } = await setup(engine);
          const model = { submitted: 0 };
          try {
            for (const [labels, capacity, home] of runners) await new AddRunner(labels, capacity, home).run(model, real);
            for (const [origin, planJobs, build] of plans) await new Submit(origin, planJobs, build).run(model, real);
            // The pass leases; the checks after it are Property 2b's (every lease), 8 and 9, and work conservation.
            await new Tick().run(model, real);
          } finally {
            await real.service.sendDue();
            await dispose();
          }
        },
      ),
      { numRuns: runs * 2 },
    );
  });

  it("Property 15: dispatch batches — one pass over random repositories, runners and label sets, leasing several jobs of a repository at once", async () => {
    const jobs = fc.array(fc.record({ labels: fc.constantFrom(...LABEL_SETS), priority: fc.integer({ min: 1, max: 4 }), boots: fc.boolean() }), {
      minLength: 1,
      maxLength: 4,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...ORIGINS), jobs, plannedBuild), { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(fc.constantFrom(...ENV_LABELS), fc.integer({ min: 1, max: 2 }), homes), { minLength: 1, maxLength: 5 }),
        async (plans, runners) => {
          const { real, dispose } = await setup(engine, BATCHING);
          const model = { submitted: 0 };
          try {
            for (const [labels, capacity, home] of runners) await new AddRunner(labels, capacity, home).run(model, real);
            for (const [origin, planJobs, build] of plans) await new Submit(origin, planJobs, build).run(model, real);
            // The pass leases; the checks after it are Property 2b's (every lease), 8 and 9, and work conservation.
            await new Tick().run(model, real);
          } finally {
            await real.service.sendDue();
            await dispose();
          }
        },
      ),
      { numRuns: runs * 2 },
    );
  });
});
