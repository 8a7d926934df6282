import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../src/orchestrator/job-lifecycle.js";
import { ENGINES, withStore, submitPlan } from "../helpers/stores.js";
import { storeJob } from "../helpers/orchestrator.js";

describe.each(ENGINES)("Store on %s", (engine) => {
  it("cancels a job as it is now, though the copy it was given is of an earlier attempt: the run cancelled is the current one", async () => {
    await withStore(engine, async (store) => {
      const lifecycle = new JobLifecycle(store, new ManualClock(1_000), undefined, true);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1_000, jobs: [storeJob("j", [], 2)] });
      await store.upsertEnvironments(["e1", "e2"].map((id) => ({ id, pool: "static", labels: [], capacity: 1, state: "online" as const, lastSeen: 1_000 })));
      await lifecycle.dispatch((await store.job("j"))!, "e1");
      await store.setRunId("j", 1, "101");
      const stale = (await lifecycle.report("j", 1, { kind: "started" }))!;
      // The host dies: attempt 1 is given back, and attempt 2 goes to another runner.
      await lifecycle.infrastructureFailure(stale, "host lost");
      await lifecycle.dispatch((await store.job("j"))!, "e2");
      await store.setRunId("j", 2, "202");
      // A /kto cancel read the job before all that.
      expect(await lifecycle.cancel(stale, "cancelled by a maintainer")).toMatchObject({ state: "cancelled", attempt: 2 });
      const cancels = (await store.db.selectFrom("outbox").select(["idempotency_key", "payload"]).where("kind", "=", "cancel").orderBy("id").execute()).map(
        (r) => [r.idempotency_key, (JSON.parse(r.payload) as { runId: string | null }).runId],
      );
      expect(cancels).toEqual([
        ["cancel:j#1", "101"],
        ["cancel:j#2", "202"],
      ]);
    });
  });

  it("submits a plan and orders the queue by priority, then arrival", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, {
        id: "p1",
        source: "kto.yml",
        workspace: "/w",
        approved: true,
        now: 1,
        jobs: [storeJob("a", [], 2), storeJob("b", [], 3), storeJob("c", [], 2)],
      });
      expect((await store.dispatchable(1)).map((j) => j.id)).toEqual(["b", "a", "c"]);
      const a = (await store.job("a"))!;
      expect(a).toMatchObject({ state: "queued", attempt: 1, planId: "p1", labels: [] });
      expect(a.spec.id).toBe("a");
      expect(await store.countsByState()).toMatchObject({ queued: 3, running: 0 });
    });
  });

  it("places a queued job among the jobs waiting for the same labels, by priority then arrival", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        approved: true,
        now: 1,
        jobs: [
          storeJob("x1", ["x86_64"], 2),
          storeJob("arm", ["arm64"], 4),
          storeJob("x2", ["kvm", "x86_64"], 2),
          storeJob("x3", ["x86_64"], 3),
          storeJob("x4", ["x86_64"], 2),
        ],
      });
      const position = async (id: string) => store.queuePosition((await store.job(id))!, 1);
      expect(await Promise.all(["x3", "x1", "x4", "arm", "x2"].map(position))).toEqual([1, 2, 3, 1, 1]);
    });
  });

  it("applies a transition only from an allowed state and attempt, with its audit row and outbox entry", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("j", [], 2)] });
      const effect = { kind: "dispatch" as const, key: "dispatch:j#1", payload: { attempt: 1, envId: "e" } };
      expect(await store.transition({ jobId: "j", to: "running", now: 2 })).toBeNull(); // queued → running is not a move
      expect(await store.transition({ jobId: "j", to: "dispatched", attempt: 2, now: 2 })).toBeNull();
      const moved = await store.transition({ jobId: "j", to: "dispatched", set: { env_id: "e" }, effects: [effect], now: 3 });
      expect(moved).toMatchObject({ state: "dispatched", envId: "e", dispatchedAt: 3 });
      // The same effect key twice is one outbox row: redelivery is by key, never by a second row.
      await store.transition({ jobId: "j", to: "queued", effects: [effect], now: 4 });
      expect((await store.dueOutbox(10)).map((o) => o.key)).toEqual(["dispatch:j#1"]);
      expect((await store.transitions("j")).map((t) => [t.from, t.to])).toEqual([
        [null, "queued"],
        ["queued", "dispatched"],
        ["dispatched", "queued"],
      ]);
      const done = await store.transition({ jobId: "j", to: "cancelled", now: 5 });
      expect(done).toMatchObject({ state: "cancelled", finishedAt: 5 });
      expect(await store.transition({ jobId: "j", to: "queued", now: 6 })).toBeNull(); // terminal stays terminal
    });
  });

  it("holds a job's later effects back while an earlier one waits for its retry; other jobs' go on", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("j", [], 2), storeJob("k", [], 2)] });
      await store.transition({
        jobId: "j",
        to: "dispatched",
        set: { env_id: "e" },
        effects: [{ kind: "dispatch", key: "dispatch:j#1", payload: { attempt: 1, envId: "e" } }],
        now: 2,
      });
      const [dispatch] = await store.dueOutbox(2);
      await store.markRetry(dispatch!.id, 100, "502 Bad Gateway");
      await store.transition({ jobId: "j", to: "cancelled", effects: [{ kind: "cancel", key: "cancel:j#1", payload: { attempt: 1, envId: "e" } }], now: 3 });
      await store.transition({
        jobId: "k",
        to: "dispatched",
        set: { env_id: "e" },
        effects: [{ kind: "dispatch", key: "dispatch:k#1", payload: { attempt: 1, envId: "e" } }],
        now: 4,
      });
      // The cancel must not overtake the dispatch it cancels.
      expect((await store.dueOutbox(50)).map((o) => o.key)).toEqual(["dispatch:k#1"]);
      expect((await store.dueOutbox(100)).map((o) => o.key)).toEqual(["dispatch:j#1", "cancel:j#1", "dispatch:k#1"]);
    });
  });

  it("cancels an older plan of the same group when a newer one arrives", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, {
        id: "old",
        source: "s",
        workspace: "/w",
        groupKey: "pr-7",
        approved: true,
        now: 1,
        jobs: [storeJob("o1", [], 2), storeJob("o2", [], 2)],
      });
      await store.transition({ jobId: "o2", to: "dispatched", set: { env_id: "e" }, now: 2 });
      const { cancelled } = await submitPlan(store, {
        id: "new",
        source: "s",
        workspace: "/w",
        groupKey: "pr-7",
        approved: true,
        now: 3,
        jobs: [storeJob("n1", [], 2)],
      });
      expect(cancelled.sort()).toEqual(["o1", "o2"]);
      expect((await store.job("o2"))?.state).toBe("cancelled");
      expect((await store.job("n1"))?.state).toBe("queued");
    });
  });

  it("keeps the trust gate's decision with each plan, and finds a repository's plans of a commit, newest first", async () => {
    await withStore(engine, async (store) => {
      const plan = (id: string, repo: string, headSha: string, now: number, approved: boolean) =>
        submitPlan(store, { id, source: "s", workspace: "/w", repo, headSha, approved, gateReason: `${id}'s reason`, now, jobs: [storeJob(`${id}-j`, [], 2)] });
      await plan("held", "o/r", "a".repeat(40), 1, false);
      await plan("trusted", "o/r", "a".repeat(40), 2, true);
      await plan("other-commit", "o/r", "b".repeat(40), 3, true);
      await plan("other-repo", "o/fork", "a".repeat(40), 4, true);
      expect((await store.plansAt("o/r", "a".repeat(40))).map((p) => [p.id, p.trusted, p.gateReason])).toEqual([
        ["trusted", true, "trusted's reason"],
        ["held", false, "held's reason"],
      ]);
    });
  });

  it("holds a named lock for one owner until it expires", async () => {
    await withStore(engine, async (store) => {
      expect(await store.acquireLock("q", "a", 1000, 0)).toBe(true);
      expect(await store.acquireLock("q", "b", 1000, 500)).toBe(false);
      expect(await store.acquireLock("q", "a", 1000, 900)).toBe(true); // renewal
      expect(await store.acquireLock("q", "b", 1000, 2000)).toBe(true); // a dead owner's lock lapses
      await store.releaseLock("q", "b");
      expect(await store.acquireLock("q", "a", 1000, 2001)).toBe(true);
    });
  });

  it("prunes finished plans older than the cut, never one still running", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, { id: "done", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("d", [], 2)] });
      await submitPlan(store, { id: "busy", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("b", [], 2)] });
      await store.transition({ jobId: "d", to: "cancelled", now: 2 });
      await store.transition({ jobId: "b", to: "dispatched", now: 2 });
      expect(await store.pruneFinishedPlans(100)).toEqual(["done"]);
      expect(await store.planIds()).toEqual(["busy"]);
      expect(await store.transitions("d")).toEqual([]);
    });
  });

  it("keeps environments and counts the jobs each holds", async () => {
    await withStore(engine, async (store) => {
      await store.upsertEnvironments([{ id: "e1", pool: "p", labels: ["x86_64", "kvm"], capacity: 2, state: "online", lastSeen: 1 }]);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("j", [], 2)] });
      await store.transition({ jobId: "j", to: "dispatched", set: { env_id: "e1" }, now: 2 });
      expect(await store.busyByEnvironment()).toEqual(new Map([["e1", 1]]));
      expect((await store.environments())[0]).toMatchObject({ id: "e1", labels: ["kvm", "x86_64"], capacity: 2 });
    });
  });
});
