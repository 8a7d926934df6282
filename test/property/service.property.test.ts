import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { isTerminal } from "../../src/orchestrator/job-state.js";
import { QUEUE_LOCK } from "../../src/orchestrator/queue-leader.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import { openStore } from "../../src/orchestrator/store/open-store.js";
import { RecordingDispatcher, StaticPool, storeJob } from "../helpers/orchestrator.js";
import { withTempDir } from "../helpers/job.js";
import { freshStore, submitPlan } from "../helpers/stores.js";
import { advanceUntil, settle } from "../helpers/until.js";

describe("OrchestratorService", () => {
  it("Property 1: start/stop consistency — any sequence of start, stop and health leaves no timer, lock or lease behind", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom("start", "stop", "drain-stop", "health", "submit", "tick"), { maxLength: 15 }), async (ops) => {
        const { store, dispose } = await freshStore("sqlite");
        const clock = new ManualClock(0);
        const pool = new StaticPool();
        pool.add(`local@owner-1`, ["x86_64"], 2, { owner: "owner-1" });
        const service = new OrchestratorService({
          store,
          dispatcher: new RecordingDispatcher(),
          pools: [pool],
          clock,
          options: { owner: "owner-1", pollMs: 100 },
        });
        try {
          let plans = 0;
          for (const op of ops) {
            if (op === "start") await service.start();
            if (op === "stop") await service.stop();
            if (op === "drain-stop") {
              const stopping = service.stop({ drainMs: 500 });
              await advanceUntil(
                async () => (await service.health()).status === "stopped",
                () => clock.advance(100),
              );
              await stopping;
            }
            if (op === "health") expect(["running", "stopped"]).toContain((await service.health()).status);
            if (op === "submit")
              await service.submit({
                id: `p${plans++}`,
                source: "s",
                workspace: "/w",
                approved: true,
                now: clock.now(),
                jobs: [storeJob(`j${plans}`, ["x86_64"], 2)],
              });
            if (op === "tick") await service.tick();
          }
          await service.stop();
          await settle();
          expect(clock.pendingTimers).toBe(0);
          expect((await service.health()).status).toBe("stopped");
          const lock = await store.db.selectFrom("locks").selectAll().where("name", "=", QUEUE_LOCK).executeTakeFirst();
          expect(lock).toBeUndefined();
          // Jobs that were running here were handed back, not left holding the runner.
          expect(await store.jobs.busyByRunner()).toEqual(new Map());
        } finally {
          await dispose();
        }
      }),
      { numRuns: 60 },
    );
  });

  it("Property 1: automatic plan processing — every plan submitted is picked up by the running service without a call from outside", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 6 }),
        async (arrivals) => {
          const { store, dispose } = await freshStore("sqlite");
          const clock = new ManualClock(0);
          const pool = new StaticPool();
          pool.add("e1", ["x86_64"], 50);
          const dispatcher = new RecordingDispatcher();
          const service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "o", pollMs: 1_000, outboxPollMs: 500 } });
          try {
            await service.start();
            let expected = 0;
            for (const [delay, size] of arrivals) {
              clock.advance(delay);
              await settle();
              const plan = `p${expected}`;
              await submitPlan(store, {
                id: plan,
                source: "s",
                workspace: "/w",
                approved: true,
                now: clock.now(),
                jobs: Array.from({ length: size }, (_, i) => storeJob(`${plan}-${i}`, ["x86_64"], 2)),
              });
              expected += size;
            }
            // Submitted straight into the store, never announced: only the queue's own poll can find them.
            const picked = await advanceUntil(
              async () => dispatcher.dispatched.length === expected,
              () => clock.advance(250),
            );
            expect(picked).toBe(true);
            expect(new Set(dispatcher.dispatched.map((d) => d.job.id)).size).toBe(expected);
          } finally {
            await service.stop();
            await dispose();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it("cancels a job past its timeout plus grace and records it timed_out, even if the runner never answers", async () => {
    const { store, dispose } = await freshStore("sqlite");
    const clock = new ManualClock(0);
    const pool = new StaticPool();
    pool.add("e1", [], 1);
    const dispatcher = new RecordingDispatcher();
    const service = new OrchestratorService({
      store,
      dispatcher,
      pools: [pool],
      clock,
      options: { owner: "o", lifecycle: { leaseMs: 10_000_000, deadlineGraceMs: 5_000, retryBackoffMs: 1, maxBackoffMs: 1 } },
    });
    try {
      await service.syncRunners();
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 0, jobs: [storeJob("slow", [], 2)] });
      await service.tick();
      await service.sendDue();
      await service.recordRunEvent("slow", 1, { kind: "started" });
      clock.advance(60_000 + 4_999);
      await service.tick();
      expect((await store.jobs.job("slow"))?.state).toBe("running");
      clock.advance(2);
      await service.tick();
      await service.sendDue();
      expect(await store.jobs.job("slow")).toMatchObject({ state: "timed_out", outcome: "timed_out" });
      expect(dispatcher.cancelled.map((c) => c.jobId)).toEqual(["slow"]);
    } finally {
      await dispose();
    }
  });

  it("retries an infrastructure failure on another runner with backoff, and errors it when attempts run out", async () => {
    const { store, dispose } = await freshStore("sqlite");
    const clock = new ManualClock(0);
    const pool = new StaticPool();
    pool.add("e1", [], 1);
    pool.add("e2", [], 1);
    const dispatcher = new RecordingDispatcher();
    const service = new OrchestratorService({
      store,
      dispatcher,
      pools: [pool],
      clock,
      options: { owner: "o", lifecycle: { leaseMs: 1_000_000, deadlineGraceMs: 1_000, retryBackoffMs: 1_000, maxBackoffMs: 10_000 } },
    });
    try {
      await service.syncRunners();
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 0, jobs: [storeJob("j", [], 2, { maxAttempts: 2 })] });
      await service.tick();
      const first = (await store.jobs.job("j"))!;
      await service.takeOffline(first.runnerId!, "went away");
      expect(await store.jobs.job("j")).toMatchObject({ state: "queued", attempt: 2, notBefore: 1_000 });
      await service.tick();
      expect((await store.jobs.job("j"))?.state).toBe("queued"); // backoff
      clock.advance(1_000);
      await service.tick();
      const second = (await store.jobs.job("j"))!;
      expect(second.state).toBe("dispatched");
      expect(second.runnerId).not.toBe(first.runnerId);
      await service.recordRunEvent("j", 2, { kind: "finished", status: "errored", infrastructure: true, reason: "disk full" });
      expect(await store.jobs.job("j")).toMatchObject({ state: "errored", outcome: "infrastructure" });
    } finally {
      await dispose();
    }
  });

  it("records a pass after a test-failure retry as flaky", async () => {
    const { store, dispose } = await freshStore("sqlite");
    const clock = new ManualClock(0);
    const pool = new StaticPool();
    pool.add("e1", [], 1);
    const service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [pool], clock, options: { owner: "o" } });
    try {
      await service.syncRunners();
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 0, jobs: [storeJob("j", [], 2, { retries: 1 })] });
      await service.tick();
      await service.recordRunEvent("j", 1, { kind: "finished", status: "failed" });
      expect(await store.jobs.job("j")).toMatchObject({ state: "queued", attempt: 2, retriesLeft: 0 });
      await service.tick();
      await service.recordRunEvent("j", 2, { kind: "finished", status: "succeeded" });
      expect(await store.jobs.job("j")).toMatchObject({ state: "succeeded", flaky: true });
    } finally {
      await dispose();
    }
  });

  it("Property 12: service recovery — SIGKILLed at random points over 200 jobs, every job ends exactly once and no run starts twice", async () => {
    await withTempDir(async (dir) => {
      const runs = new Map<string, number>();
      const deliveries = new Map<string, number>();
      /** How many runs each job's attempt was in: a batch that went twice would start its jobs twice. */
      const ranAttempts = new Map<string, number>();
      const events: { key: string; jobId: string; attempt: number; status: string; infrastructure: boolean }[] = [];
      let seed = 7;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const fleet = createServer((request, response) => {
        let body = "";
        request.on("data", (c: Buffer) => (body += c.toString()));
        request.on("end", () => {
          if (request.url === "/dispatch") {
            const { key, jobs } = JSON.parse(body) as { key: string; jobs: { jobId: string; attempt: number }[] };
            deliveries.set(key, (deliveries.get(key) ?? 0) + 1);
            if (!runs.has(key)) {
              runs.set(key, 1);
              // A batch's run holds each of its jobs; some lose their machine: the orchestrator must retry those elsewhere.
              for (const { jobId, attempt } of jobs) {
                ranAttempts.set(`${jobId}#${attempt}`, (ranAttempts.get(`${jobId}#${attempt}`) ?? 0) + 1);
                const infrastructure = random() < 0.1;
                setTimeout(
                  () => events.push({ key, jobId, attempt, status: infrastructure ? "errored" : random() < 0.8 ? "succeeded" : "failed", infrastructure }),
                  5 + random() * 40,
                );
              }
            }
            response.end(JSON.stringify({ runId: key }));
          } else if (request.url === "/events") response.end(JSON.stringify(events));
          else response.end("{}");
        });
      });
      await new Promise<void>((resolve) => fleet.listen(0, "127.0.0.1", resolve));
      const url = `http://127.0.0.1:${(fleet.address() as AddressInfo).port}`;
      const child = new URL("../crash/child.mjs", import.meta.url).pathname;
      let kills = 0;
      try {
        for (let life = 0; life < 60; life++) {
          const proc = spawn(process.execPath, [child], {
            env: { ...process.env, KTO_CRASH_FLEET: url, KTO_CRASH_DATA: dir, KTO_CRASH_JOBS: "200" },
            stdio: ["ignore", "ignore", "pipe"],
          });
          let stderr = "";
          proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
          const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
          // Short lives, so that even a fast machine is killed mid-plan many times before it finishes.
          const killAfter = kills < 25 ? 100 + random() * 400 : 60_000;
          const timer = setTimeout(() => proc.kill("SIGKILL"), killAfter);
          const code = await exited;
          clearTimeout(timer);
          if (code === 0) break;
          if (code !== null) throw new Error(`child failed (${code}): ${stderr}`);
          kills += 1;
        }
      } finally {
        fleet.close();
      }
      expect(kills).toBeGreaterThanOrEqual(10);

      const store = await openStore({ dataDir: dir, databaseUrl: "" });
      try {
        const jobs = await store.jobs.list();
        expect(jobs).toHaveLength(200);
        const transitions = await store.jobs.transitions();
        for (const job of jobs) {
          expect(isTerminal(job.state)).toBe(true);
          const terminal = transitions.filter((t) => t.jobId === job.id && isTerminal(t.to));
          expect(terminal).toHaveLength(1);
        }
        for (const [key, count] of runs) expect([key, count]).toEqual([key, 1]);
        for (const [attempt, count] of ranAttempts) expect([attempt, count]).toEqual([attempt, 1]);
        // Every attempt that ran was dispatched from the store, and each attempt's run has one key.
        const attempts = new Set(jobs.map((j) => `dispatch:${j.id}#${j.attempt}`));
        const finishedByRun = jobs.filter((j) => j.state !== "errored" || j.outcome !== "infrastructure");
        for (const job of finishedByRun) expect(attempts.has(`dispatch:${job.id}#${job.attempt}`)).toBe(true);
        const redelivered = [...deliveries.values()].filter((n) => n > 1).length;
        process.stdout.write(`crash test: ${kills} kills, ${runs.size} runs, ${redelivered} dispatches redelivered after a crash and dropped by key\n`);
      } finally {
        await store.close();
      }
    });
  });
});
