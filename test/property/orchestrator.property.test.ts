import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { isTerminal } from "../../src/orchestrator/job-state.js";
import { labelsFit } from "../../src/orchestrator/labels.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import type { Store } from "../../src/orchestrator/store/store.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../helpers/orchestrator.js";
import { ENGINES, freshStore, type EngineName } from "../helpers/stores.js";

const LABEL_SETS = [[], ["x86_64"], ["x86_64", "kvm"], ["arm64"], ["gpu"]];
const ENV_LABELS = [["x86_64"], ["x86_64", "kvm"], ["arm64"], ["x86_64", "kvm", "gpu"]];

interface Real {
  store: Store;
  service: OrchestratorService;
  clock: ManualClock;
  pool: StaticPool;
  dispatcher: RecordingDispatcher;
  submitted: number;
  plans: number;
}

type Model = { submitted: number };

/** Invariants that hold after every command: Properties 2, 3 and 11. */
async function checkInvariants(real: Real): Promise<void> {
  const jobs = await real.store.jobs();
  const envs = new Map((await real.store.environments()).map((e) => [e.id, e]));
  const busy = new Map<string, number>();
  for (const job of jobs) {
    if (job.state === "dispatched" || job.state === "running") {
      // Property 2: a job only ever runs where its labels ⊆ the environment's.
      const env = envs.get(job.envId!);
      expect(env).toBeDefined();
      expect(labelsFit(job.labels, env!.labels)).toBe(true);
      busy.set(job.envId!, (busy.get(job.envId!) ?? 0) + 1);
      expect(job.leaseExpires).not.toBeNull();
    }
    // Property 11: a finished job holds no lease.
    if (isTerminal(job.state)) expect(job.leaseExpires).toBeNull();
  }
  for (const [envId, n] of busy) expect(n).toBeLessThanOrEqual(envs.get(envId)!.capacity);
  expect(await real.store.busyByEnvironment()).toEqual(busy);
  // Property 3: active + waiting + finished always equals jobs submitted. Each part is
  // checked against the jobs themselves, so a job counted twice, in the wrong part, or
  // lost fails here, not only a sum that is whole by construction.
  const status = await real.service.status.snapshot();
  expect(jobs).toHaveLength(real.submitted);
  const inStates = (...states: string[]) => jobs.filter((job) => states.includes(job.state)).length;
  expect(status.waiting).toBe(inStates("awaiting_approval", "queued"));
  expect(status.active).toBe(inStates("dispatched", "running"));
  expect(status.finished).toBe(jobs.filter((job) => isTerminal(job.state)).length);
  expect(status.active + status.waiting + status.finished).toBe(real.submitted);
  expect(status.submitted).toBe(real.submitted);
}

class Submit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly jobs: { labels: string[]; priority: number }[]) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const plan = `p${real.plans++}`;
    await real.service.submit({
      id: plan,
      source: "kto.yml",
      workspace: "/w",
      approved: true,
      now: real.clock.now(),
      jobs: this.jobs.map((j, i) => storeJob(`${plan}-${i}`, j.labels, j.priority)),
    });
    real.submitted += this.jobs.length;
    model.submitted += this.jobs.length;
    await checkInvariants(real);
  }
  toString = () => `submit(${JSON.stringify(this.jobs)})`;
}

class AddEnvironment implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly labels: string[],
    readonly capacity: number,
  ) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    real.pool.add(`env${real.pool.envs.length}-${real.clock.now()}`, this.labels, this.capacity);
    await real.service.resources.sync();
    await checkInvariants(real);
  }
  toString = () => `addEnv(${this.labels},${this.capacity})`;
}

/** Properties 8 and 9 are checked on each scheduling pass. */
class Tick implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const before = new Set((await real.store.jobs({ states: ["queued"] })).map((j) => j.id));
    await real.service.monitor.tick();
    await real.service.outbox.deliver();
    const jobs = await real.store.jobs();
    const stillQueued = jobs.filter((j) => j.state === "queued" && j.notBefore <= real.clock.now());
    const now = jobs.filter((j) => before.has(j.id) && j.state === "dispatched");
    const envs = await real.store.environments();
    const busy = await real.store.busyByEnvironment();
    for (const waiting of stillQueued) {
      // Work-conserving: nothing that fits a free environment is left waiting.
      const free = envs.filter((e) => e.state === "online" && e.capacity > (busy.get(e.id) ?? 0) && labelsFit(waiting.labels, e.labels));
      expect(free.map((e) => e.id)).toEqual([]);
      for (const taken of now) {
        const env = envs.find((e) => e.id === taken.envId)!;
        if (!labelsFit(waiting.labels, env.labels)) continue;
        // Property 8: never a lower priority over a higher one that fit the same environment.
        expect(taken.priority).toBeGreaterThanOrEqual(waiting.priority);
        // Property 9: among equal priorities, arrival order.
        if (taken.priority === waiting.priority) expect(taken.seq).toBeLessThan(waiting.seq);
      }
    }
    await checkInvariants(real);
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
    const active = await real.store.jobs({ states: ["dispatched", "running"] });
    if (active.length === 0) return;
    const job = active[this.pick % active.length]!;
    if (this.outcome === "started") await real.service.report(job.id, job.attempt, { kind: "started" });
    else if (this.outcome === "infrastructure")
      await real.service.report(job.id, job.attempt, { kind: "finished", status: "errored", infrastructure: true, reason: "runner lost" });
    else await real.service.report(job.id, job.attempt, { kind: "finished", status: this.outcome });
    await checkInvariants(real);
  }
  toString = () => `report(${this.pick},${this.outcome})`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    real.clock.advance(this.ms);
    await real.service.monitor.tick();
    await checkInvariants(real);
  }
  toString = () => `advance(${this.ms})`;
}

class FailEnvironment implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const online = real.pool.envs.filter((e) => real.pool.healthy.has(e.id));
    if (online.length === 0) return;
    real.pool.healthy.delete(online[this.pick % online.length]!.id);
    await real.service.resources.checkHealth();
    await checkInvariants(real);
  }
  toString = () => `failEnv(${this.pick})`;
}

class Cancel implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    const open = (await real.store.jobs()).filter((j) => !isTerminal(j.state));
    if (open.length === 0) return;
    await real.service.lifecycle.cancel(open[this.pick % open.length]!, "test");
    await checkInvariants(real);
  }
  toString = () => `cancel(${this.pick})`;
}

const commands = [
  fc
    .array(fc.record({ labels: fc.constantFrom(...LABEL_SETS), priority: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 6 })
    .map((jobs) => new Submit(jobs)),
  fc.tuple(fc.constantFrom(...ENV_LABELS), fc.integer({ min: 1, max: 3 })).map(([labels, capacity]) => new AddEnvironment(labels, capacity)),
  fc.constant(new Tick()),
  fc.tuple(fc.nat(), fc.constantFrom("started" as const, "succeeded" as const, "failed" as const, "infrastructure" as const)).map(([p, o]) => new Report(p, o)),
  fc.integer({ min: 1_000, max: 400_000 }).map((ms) => new Advance(ms)),
  fc.nat().map((p) => new FailEnvironment(p)),
  fc.nat().map((p) => new Cancel(p)),
];

async function setup(engine: EngineName) {
  const fresh = await freshStore(engine);
  const clock = new ManualClock(1_000_000);
  const pool = new StaticPool();
  const dispatcher = new RecordingDispatcher();
  const service = new OrchestratorService({
    store: fresh.store,
    dispatcher,
    pools: [pool],
    clock,
    options: { owner: "test", lifecycle: { leaseMs: 120_000, deadlineGraceMs: 30_000, retryBackoffMs: 1_000, maxBackoffMs: 10_000 } },
  });
  const real: Real = { store: fresh.store, service, clock, pool, dispatcher, submitted: 0, plans: 0 };
  return { real, dispose: fresh.dispose };
}

describe.each(ENGINES)("orchestrator on %s, model-based", (engine) => {
  const runs = engine === "sqlite" ? 40 : 15;

  it("Property 2: allocation matching, Property 3: status consistency, Property 8: priority ordering, Property 9: FIFO among equal priorities, Property 11: resource recovery — over any command sequence", async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
        const { real, dispose } = await setup(engine);
        try {
          await fc.asyncModelRun(() => ({ model: { submitted: 0 }, real }), cmds);
          // Property 11, to the end: finish or fail everything that remains; every lease comes back.
          for (let round = 0; round < 20; round++) {
            const active = await real.store.jobs({ states: ["dispatched", "running"] });
            for (const job of active) await real.service.report(job.id, job.attempt, { kind: "finished", status: "succeeded" });
            real.clock.advance(20_000);
            await real.service.monitor.tick();
          }
          for (const job of await real.store.jobs({ states: ["queued", "dispatched", "running"] })) await real.service.lifecycle.cancel(job, "end of test");
          expect(await real.store.busyByEnvironment()).toEqual(new Map());
          await checkInvariants(real);
          expect(real.dispatcher.duplicates).toBe(0);
        } finally {
          // Reports and passes start deliveries they do not wait for: the last one ends before the database goes.
          await real.service.outbox.deliver();
          await dispose();
        }
      }),
      { numRuns: runs },
    );
  });
});
