import { describe, expect, it } from "@jest/globals";
import { sql } from "kysely";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../src/orchestrator/job-lifecycle.js";
import { UNRESTRICTED, type RunnerScope } from "../../src/orchestrator/scope.js";
import { migrate } from "../../src/orchestrator/store/migrations.js";
import { ENGINES, withStore, submitPlan } from "../helpers/stores.js";
import { storeBuild, storeDependent, storeJob } from "../helpers/orchestrator.js";

describe.each(ENGINES)("Store on %s", (engine) => {
  it("cancels a job as it is now, though the copy it was given is of an earlier attempt: the run cancelled is the current one", async () => {
    await withStore(engine, async (store) => {
      const lifecycle = new JobLifecycle(store, new ManualClock(1_000), undefined, true);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1_000, jobs: [storeJob("j", [], 2)] });
      await store.runners.upsertRunners(
        ["e1", "e2"].map((id) => ({ id, pool: "static", labels: [], capacity: 1, state: "online" as const, lastSeen: 1_000, scope: UNRESTRICTED })),
      );
      await lifecycle.dispatch((await store.jobs.job("j"))!, "e1");
      await store.jobs.setRunId("j", 1, "101");
      const stale = (await lifecycle.recordRunEvent("j", 1, { kind: "started" }))!;
      // The host dies: attempt 1 is given back, and attempt 2 goes to another runner.
      await lifecycle.infrastructureFailure(stale, "host lost");
      await lifecycle.dispatch((await store.jobs.job("j"))!, "e2");
      await store.jobs.setRunId("j", 2, "202");
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

  it("moves a build's waiting dependents in the transaction of the build's end: a failure after the build's update rolls both back", async () => {
    await withStore(engine, async (store) => {
      const lifecycle = new JobLifecycle(store, new ManualClock(1_000), undefined, true);
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        approved: true,
        publish: true,
        now: 1_000,
        jobs: [storeBuild("b", "x86_64-kunit", [], 2), storeDependent("kunit", "x86_64-kunit", [], 2), storeDependent("kselftest", "x86_64-kunit", [], 2)],
      });
      expect((await store.jobs.job("kunit"))!).toMatchObject({ state: "waiting", needsJobId: "b" });
      await store.runners.upsertRunners([{ id: "e1", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 1_000, scope: UNRESTRICTED }]);
      expect(await lifecycle.dispatch((await store.jobs.job("b"))!, "e1")).toMatchObject({ state: "dispatched", attempt: 1 });
      expect((await store.jobs.job("kselftest"))!).toMatchObject({ state: "waiting", needsJobId: "b" });
      // The second dependent's move fails, after the build's update and the first dependent's.
      if (engine === "sqlite") {
        await sql`create trigger fail_skip before update of state on jobs when new.state = 'skipped' and new.id = 'kselftest' begin select raise(abort, 'injected'); end`.execute(
          store.db,
        );
      } else {
        await sql`create function fail_skip() returns trigger language plpgsql as $$ begin raise exception 'injected'; end $$`.execute(store.db);
        await sql`create trigger fail_skip before update on jobs for each row when (new.state = 'skipped' and new.id = 'kselftest') execute function fail_skip()`.execute(
          store.db,
        );
      }
      const triggers =
        engine === "sqlite"
          ? await sql<{ name: string }>`select name from sqlite_master where type = 'trigger'`.execute(store.db)
          : await sql<{ name: string }>`select tgname as name from pg_trigger where not tgisinternal`.execute(store.db);
      expect(triggers.rows.map((r) => r.name)).toEqual(["fail_skip"]);
      // Matched by message: better-sqlite3's native part makes its errors with the Error of the first test file that loaded it in this worker, not an Error of this one.
      await expect(lifecycle.recordRunEvent("b", 1, { kind: "finished", status: "failed", reason: "1 error" })).rejects.toMatchObject({
        message: expect.stringMatching(/injected/),
      });
      expect((await store.jobs.list()).map((j) => [j.id, j.state])).toEqual([
        ["b", "dispatched"],
        ["kunit", "waiting"],
        ["kselftest", "waiting"],
      ]);
      expect((await store.jobs.transitions()).filter((t) => t.from !== null).map((t) => t.jobId)).toEqual(["b"]);
      // Only the check runs of their submission: none of the moves rolled back.
      expect(
        (await store.db.selectFrom("outbox").select("idempotency_key").where("idempotency_key", "like", "publish:k%").orderBy("id").execute()).map(
          (r) => r.idempotency_key,
        ),
      ).toEqual(["publish:kunit#1:waiting", "publish:kselftest#1:waiting"]);
      await sql`drop trigger fail_skip ${sql.raw(engine === "postgres" ? "on jobs" : "")}`.execute(store.db);
      // The report tried again: the build fails, and both dependents are skipped with it.
      await lifecycle.recordRunEvent("b", 1, { kind: "finished", status: "failed", reason: "1 error" });
      expect((await store.jobs.list()).map((j) => [j.id, j.state, j.reason])).toEqual([
        ["b", "failed", "1 error"],
        ["kunit", "skipped", "build x86_64-kunit failed: 1 error"],
        ["kselftest", "skipped", "build x86_64-kunit failed: 1 error"],
      ]);
      expect(await store.jobs.countsByState()).toMatchObject({ waiting: 0, skipped: 2, failed: 1 });
    });
  });

  it("releases a job that starts to wait for a build already ended, in the same transaction, and indexes jobs by the build they need", async () => {
    await withStore(engine, async (store) => {
      const lifecycle = new JobLifecycle(store, new ManualClock(1_000), undefined, true);
      await submitPlan(store, {
        id: "p",
        source: "s",
        workspace: "/w",
        approved: false,
        now: 1_000,
        jobs: [storeBuild("b", "x86_64-kunit", [], 2), storeDependent("kunit", "x86_64-kunit", [], 2)],
      });
      await lifecycle.approve((await store.jobs.job("b"))!);
      await store.runners.upsertRunners([{ id: "e1", pool: "static", labels: [], capacity: 1, state: "online", lastSeen: 1_000, scope: UNRESTRICTED }]);
      await lifecycle.dispatch((await store.jobs.job("b"))!, "e1");
      await lifecycle.recordRunEvent("b", 1, { kind: "finished", status: "succeeded" });
      expect((await store.jobs.job("kunit"))!.state).toBe("awaiting_approval");
      expect(await lifecycle.approve((await store.jobs.job("kunit"))!)).toMatchObject({ state: "waiting" });
      expect((await store.jobs.transitions("kunit")).map((t) => t.to)).toEqual(["awaiting_approval", "waiting", "queued"]);
      const indexes =
        engine === "sqlite"
          ? await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'jobs'`.execute(store.db)
          : await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'jobs'`.execute(store.db);
      expect(indexes.rows.map((r) => r.name)).toContain("jobs_needs");
    });
  });

  it("never leaves a job waiting when its approval races its build's end: whichever commits first, the job ends queued", async () => {
    await withStore(engine, async (store) => {
      const lifecycle = new JobLifecycle(store, new ManualClock(1_000), undefined, true);
      await store.runners.upsertRunners([{ id: "e1", pool: "static", labels: [], capacity: 20, state: "online", lastSeen: 1_000, scope: UNRESTRICTED }]);
      for (let i = 0; i < 10; i++) {
        await submitPlan(store, {
          id: `p${i}`,
          source: "s",
          workspace: "/w",
          approved: false,
          now: 1_000,
          jobs: [storeBuild(`b${i}`, "x86_64-kunit", [], 2), storeDependent(`k${i}`, "x86_64-kunit", [], 2)],
        });
        await lifecycle.approve((await store.jobs.job(`b${i}`))!);
        await lifecycle.dispatch((await store.jobs.job(`b${i}`))!, "e1");
      }
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const dependent = (await store.jobs.job(`k${i}`))!;
          await Promise.all([lifecycle.recordRunEvent(`b${i}`, 1, { kind: "finished", status: "succeeded" }), lifecycle.approve(dependent)]);
        }),
      );
      for (let i = 0; i < 10; i++) expect([`k${i}`, (await store.jobs.job(`k${i}`))!.state]).toEqual([`k${i}`, "queued"]);
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
      expect((await store.jobs.dispatchable(1)).map((j) => j.id)).toEqual(["b", "a", "c"]);
      const a = (await store.jobs.job("a"))!;
      expect(a).toMatchObject({ state: "queued", attempt: 1, planId: "p1", labels: [] });
      expect(a.spec.id).toBe("a");
      expect(await store.jobs.countsByState()).toMatchObject({ queued: 3, running: 0 });
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
      const position = async (id: string) => store.jobs.queuePosition((await store.jobs.job(id))!, 1);
      expect(await Promise.all(["x3", "x1", "x4", "arm", "x2"].map(position))).toEqual([1, 2, 3, 1, 1]);
    });
  });

  it("applies a transition only from an allowed state and attempt, with its audit row and outbox entry", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("j", [], 2)] });
      const effect = { kind: "dispatch" as const, key: "dispatch:j#1", payload: { attempt: 1, runnerId: "e" } };
      expect(await store.transition({ jobId: "j", to: "running", now: 2 })).toBeNull(); // queued → running is not a move
      expect(await store.transition({ jobId: "j", to: "dispatched", attempt: 2, now: 2 })).toBeNull();
      const moved = await store.transition({ jobId: "j", to: "dispatched", set: { runner_id: "e" }, effects: [effect], now: 3 });
      expect(moved).toMatchObject({ state: "dispatched", runnerId: "e", dispatchedAt: 3 });
      // The same effect key twice is one outbox row: redelivery is by key, never by a second row.
      await store.transition({ jobId: "j", to: "queued", effects: [effect], now: 4 });
      expect((await store.outbox.dueOutbox(10)).map((o) => o.key)).toEqual(["dispatch:j#1"]);
      expect((await store.jobs.transitions("j")).map((t) => [t.from, t.to])).toEqual([
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
        set: { runner_id: "e" },
        effects: [{ kind: "dispatch", key: "dispatch:j#1", payload: { attempt: 1, runnerId: "e" } }],
        now: 2,
      });
      const [dispatch] = await store.outbox.dueOutbox(2);
      await store.outbox.markRetry(dispatch!.id, 100, "502 Bad Gateway");
      await store.transition({ jobId: "j", to: "cancelled", effects: [{ kind: "cancel", key: "cancel:j#1", payload: { attempt: 1, runnerId: "e" } }], now: 3 });
      await store.transition({
        jobId: "k",
        to: "dispatched",
        set: { runner_id: "e" },
        effects: [{ kind: "dispatch", key: "dispatch:k#1", payload: { attempt: 1, runnerId: "e" } }],
        now: 4,
      });
      // The cancel must not overtake the dispatch it cancels.
      expect((await store.outbox.dueOutbox(50)).map((o) => o.key)).toEqual(["dispatch:k#1"]);
      expect((await store.outbox.dueOutbox(100)).map((o) => o.key)).toEqual(["dispatch:j#1", "cancel:j#1", "dispatch:k#1"]);
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
      await store.transition({ jobId: "o2", to: "dispatched", set: { runner_id: "e" }, now: 2 });
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
      expect((await store.jobs.job("o2"))?.state).toBe("cancelled");
      expect((await store.jobs.job("n1"))?.state).toBe("queued");
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
      expect((await store.plans.plansAt("o/r", "a".repeat(40))).map((p) => [p.id, p.trusted, p.gateReason])).toEqual([
        ["trusted", true, "trusted's reason"],
        ["held", false, "held's reason"],
      ]);
    });
  });

  it("holds a named lock for one owner until it expires", async () => {
    await withStore(engine, async (store) => {
      expect(await store.coordination.acquireLock("q", "a", 1000, 0)).toBe(true);
      expect(await store.coordination.acquireLock("q", "b", 1000, 500)).toBe(false);
      expect(await store.coordination.acquireLock("q", "a", 1000, 900)).toBe(true); // renewal
      expect(await store.coordination.acquireLock("q", "b", 1000, 2000)).toBe(true); // a dead owner's lock lapses
      await store.coordination.releaseLock("q", "b");
      expect(await store.coordination.acquireLock("q", "a", 1000, 2001)).toBe(true);
    });
  });

  it("prunes finished plans older than the cut, never one still running", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, { id: "done", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("d", [], 2)] });
      await submitPlan(store, { id: "busy", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("b", [], 2)] });
      await store.transition({ jobId: "d", to: "cancelled", now: 2 });
      await store.transition({ jobId: "b", to: "dispatched", now: 2 });
      expect(await store.plans.pruneFinishedPlans(100)).toEqual(["done"]);
      expect(await store.plans.planIds()).toEqual(["busy"]);
      expect(await store.jobs.transitions("d")).toEqual([]);
    });
  });

  it("keeps runners and counts the jobs each holds", async () => {
    await withStore(engine, async (store) => {
      await store.runners.upsertRunners([{ id: "e1", pool: "p", labels: ["x86_64", "kvm"], capacity: 2, state: "online", lastSeen: 1, scope: UNRESTRICTED }]);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1, jobs: [storeJob("j", [], 2)] });
      await store.transition({ jobId: "j", to: "dispatched", set: { runner_id: "e1" }, now: 2 });
      expect(await store.jobs.busyByRunner()).toEqual(new Map([["e1", 1]]));
      expect((await store.runners.list())[0]).toMatchObject({ id: "e1", labels: ["kvm", "x86_64"], capacity: 2 });
    });
  });

  it("keeps each runner's scope, each job's repository and whether it is private, and reads the queue lane by lane", async () => {
    await withStore(engine, async (store) => {
      const scopes: RunnerScope[] = [
        { kind: "repository", repository: "victim/kernel" },
        { kind: "organization", organization: "acme", repositories: ["acme/kernel"], publicRepositories: false },
        { kind: "organization", organization: "acme", repositories: "all", publicRepositories: true },
        UNRESTRICTED,
      ];
      await store.runners.upsertRunners(scopes.map((scope, i) => ({ id: `e${i}`, pool: "p", labels: [], capacity: 1, state: "online", lastSeen: 1, scope })));
      expect((await store.runners.list()).map((env) => env.scope)).toEqual(scopes);

      const plan = (id: string, repo: { repo: string; repoPrivate: boolean } | null, jobs: ReturnType<typeof storeJob>[]) =>
        submitPlan(store, { id, source: "s", workspace: "/w", approved: true, now: 1, ...(repo ?? {}), jobs });
      await plan("m", { repo: "mallory/anything", repoPrivate: false }, [storeJob("m1", ["a100"], 4), storeJob("m2", ["a100"], 4)]);
      await plan("v", { repo: "victim/kernel", repoPrivate: true }, [storeJob("v1", ["a100"], 1), storeJob("v2", ["a100"], 3)]);
      await plan("local", null, [storeJob("l1", ["a100"], 2)]);
      expect(await store.jobs.job("m1")).toMatchObject({ repo: "mallory/anything", repoPrivate: false });
      expect(await store.jobs.job("v1")).toMatchObject({ repo: "victim/kernel", repoPrivate: true });
      expect(await store.jobs.job("l1")).toMatchObject({ repo: null, repoPrivate: null });

      const lanes = await store.jobs.queuedLanes();
      const byRepo = (repo: string | null) => lanes.find((lane) => lane.repo === repo)!;
      expect(lanes).toHaveLength(3);
      expect(byRepo("victim/kernel")).toEqual({ labels: '["a100"]', repo: "victim/kernel", repoPrivate: true });
      // A lane's head, in dispatch order, holds none of another repository's jobs of the same labels.
      expect((await store.jobs.dispatchableWith(byRepo("victim/kernel"), 1, 1)).map((j) => j.id)).toEqual(["v2"]);
      expect((await store.jobs.dispatchableWith(byRepo("victim/kernel"), 1, 5)).map((j) => j.id)).toEqual(["v2", "v1"]);
      expect((await store.jobs.dispatchableWith(byRepo(null), 1, 5)).map((j) => j.id)).toEqual(["l1"]);
      expect((await store.jobs.dispatchableWith(byRepo("mallory/anything"), 1, 5)).map((j) => j.id)).toEqual(["m1", "m2"]);
    });
  });

  it("migrates a store from before scopes: its runners take no job until their pool lists them again, its jobs' privacy is not known", async () => {
    await withStore(engine, async (store) => {
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", repo: "victim/kernel", approved: true, now: 1, jobs: [storeJob("j", ["a100"], 2)] });
      // The store as 007 left it.
      await sql`alter table runners rename to environments`.execute(store.db);
      await sql`alter table jobs rename column runner_id to env_id`.execute(store.db);
      await sql`alter table outbox rename column done_at to delivered_at`.execute(store.db);
      await sql`delete from kto_migrations where name = '009-one-vocabulary'`.execute(store.db);
      await sql`drop index jobs_queue_lane`.execute(store.db);
      await sql`alter table jobs drop column repo_private`.execute(store.db);
      await sql`alter table environments drop column scope`.execute(store.db);
      await sql`delete from kto_migrations where name = '008-lease-scopes'`.execute(store.db);
      await sql`insert into environments (id, pool, labels, capacity, state, last_seen) values ('github:victim/kernel:11', 'github', '["a100"]', 1, 'online', 1)`.execute(
        store.db,
      );

      expect(await migrate(store.db, store.engine)).toEqual(["008-lease-scopes", "009-one-vocabulary"]);
      expect((await store.runners.list())[0]).toMatchObject({ id: "github:victim/kernel:11", scope: { kind: "none" } });
      expect(await store.jobs.job("j")).toMatchObject({ repo: "victim/kernel", repoPrivate: null });
      expect(await store.jobs.queuedLanes()).toEqual([{ labels: '["a100"]', repo: "victim/kernel", repoPrivate: null }]);
    });
  });

  it("migrates a store from before one vocabulary: a job keeps the runner it holds, and effects not yet sent still go where they were going", async () => {
    await withStore(engine, async (store) => {
      await store.runners.upsertRunners([{ id: "e1", pool: "p", labels: [], capacity: 1, state: "online", lastSeen: 1, scope: UNRESTRICTED }]);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, publish: true, now: 1, jobs: [storeJob("j", [], 2)] });
      const dispatch = { kind: "dispatch" as const, key: "dispatch:j#1", payload: { attempt: 1, runnerId: "e1" } };
      await store.transition({ jobId: "j", to: "dispatched", set: { runner_id: "e1" }, effects: [dispatch], now: 2 });
      const before = (await store.outbox.dueOutbox(10)).map((o) => [o.key, o.kind, o.payload]);
      // The store as 008 left it: its tables, and its effects as that version wrote them.
      await sql`alter table runners rename to environments`.execute(store.db);
      await sql`alter table jobs rename column runner_id to env_id`.execute(store.db);
      await sql`alter table outbox rename column done_at to delivered_at`.execute(store.db);
      await sql`update outbox set kind = 'report' where kind = 'publish'`.execute(store.db);
      await sql`update outbox set payload = replace(payload, '"runnerId":', '"envId":')`.execute(store.db);
      await sql`delete from kto_migrations where name = '009-one-vocabulary'`.execute(store.db);

      expect(await migrate(store.db, store.engine)).toEqual(["009-one-vocabulary"]);
      expect(await store.jobs.job("j")).toMatchObject({ state: "dispatched", runnerId: "e1" });
      expect(await store.jobs.busyByRunner()).toEqual(new Map([["e1", 1]]));
      expect((await store.runners.list()).map((e) => e.id)).toEqual(["e1"]);
      expect((await store.outbox.dueOutbox(10)).map((o) => [o.key, o.kind, o.payload])).toEqual(before);
      expect(before.map(([, kind]) => kind)).toContain("publish");
    });
  });
});
