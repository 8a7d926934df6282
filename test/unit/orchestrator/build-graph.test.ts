import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { canTransition } from "../../../src/orchestrator/job-state.js";
import type { JobRecord, NewJob, Store } from "../../../src/orchestrator/store/store.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import { RecordingDispatcher, storeBuild, storeDependent, storeJob } from "../../helpers/orchestrator.js";
import { freshStore } from "../../helpers/stores.js";

/**
 * The plan as a graph, on the store and the lifecycle alone: a job that boots a build waits
 * for it, out of the queue, and the build's end moves it, in that end's transaction.
 */
describe("a job waiting for its build", () => {
  let store: Store;
  let dispose: () => Promise<void>;
  let clock: ManualClock;
  let lifecycle: JobLifecycle;
  let plans = 0;

  beforeEach(async () => {
    ({ store, dispose } = await freshStore("sqlite"));
    clock = new ManualClock(1_700_000_000_000);
    lifecycle = new JobLifecycle(store, clock, undefined, true);
  });

  afterEach(async () => {
    await dispose();
  });

  async function submit(jobs: NewJob[], options: { approved?: boolean; groupKey?: string } = {}): Promise<string> {
    const id = `p${plans++}`;
    await lifecycle.submit({
      id,
      source: "kto.yml",
      workspace: "/w",
      approved: options.approved ?? true,
      ...(options.groupKey ? { groupKey: options.groupKey } : {}),
      publish: true,
      now: clock.now(),
      jobs,
    });
    return id;
  }

  const job = async (id: string) => (await store.jobs.job(id))!;
  const published = async (id: string) =>
    (await store.db.selectFrom("outbox").select("idempotency_key").where("job_id", "=", id).where("kind", "=", "publish").orderBy("id").execute()).map(
      (r) => r.idempotency_key,
    );

  /** The build dispatched and run to the end `status` names, with `reason`. */
  async function finishBuild(build: JobRecord, status: "succeeded" | "failed" | "timed_out", reason?: string): Promise<void> {
    await lifecycle.dispatch(build, "rack-1");
    await lifecycle.recordRunEvent(build.id, build.attempt, { kind: "started" });
    await lifecycle.recordRunEvent(build.id, build.attempt, { kind: "finished", status, ...(reason ? { reason } : {}) });
  }

  /** A plan of one build and two jobs that boot it, and one that does not; `prefix` keeps a second plan's ids apart. */
  async function graph(options: { approved?: boolean; groupKey?: string } = {}, prefix = "") {
    const plan = await submit(
      [
        storeDependent(`${prefix}kunit`, "x86_64-kunit", [], 2),
        storeBuild(`${prefix}b`, "x86_64-kunit", [], 2),
        storeDependent(`${prefix}kselftest`, "x86_64-kunit", [], 2),
        storeJob(`${prefix}lint`, [], 2),
      ],
      options,
    );
    const [build, kunit, kselftest, lint] = await Promise.all(["b", "kunit", "kselftest", "lint"].map((id) => job(`${prefix}${id}`)));
    return { plan, build: build!, kunit: kunit!, kselftest: kselftest!, lint: lint! };
  }

  it("submits a job that boots a build as waiting, naming the build, with a check run that says so, and out of the queue", async () => {
    const { build, kunit, lint } = await graph();
    expect(build).toMatchObject({ state: "queued", needsJobId: null });
    expect(kunit).toMatchObject({ state: "waiting", needsJobId: "b", reason: "waiting for build x86_64-kunit" });
    expect(lint.state).toBe("queued");
    expect(await published("kunit")).toEqual(["publish:kunit#1:waiting"]);
    // The queue never sees it: no lane, no dispatchable job, no place in line.
    const lanes = await store.jobs.queuedLanes();
    const dispatchable = await store.jobs.dispatchable(clock.now());
    expect(dispatchable.map((j) => j.id).sort()).toEqual(["b", "lint"]);
    for (const lane of lanes) expect((await store.jobs.dispatchableWith(lane, clock.now(), 10)).map((j) => j.id)).not.toContain("kunit");
    // Builds go in first: every job's build has the lower seq, the order transactions lock in.
    expect(build.seq).toBeLessThan(kunit.seq);
  });

  it("refuses a job naming a build its plan does not have", async () => {
    await expect(submit([storeDependent("kunit", "arm64-kunit", [], 2), storeBuild("b", "x86_64-kunit", [], 2)])).rejects.toThrow(
      /boots build arm64-kunit, which is not a build of its plan/,
    );
    expect(await store.jobs.list()).toEqual([]);
  });

  it("queues the build's dependents when it succeeds, with their audit rows and check runs, in the build's transaction", async () => {
    const { build } = await graph();
    await finishBuild(build, "succeeded");
    expect((await job("b")).state).toBe("succeeded");
    for (const id of ["kunit", "kselftest"]) {
      expect(await job(id)).toMatchObject({ state: "queued", reason: null, outcome: null, finishedAt: null });
      expect((await store.jobs.transitions(id)).map((t) => [t.from, t.to, t.reason])).toEqual([
        [null, "waiting", "submitted"],
        ["waiting", "queued", "build x86_64-kunit succeeded"],
      ]);
      expect(await published(id)).toEqual([`publish:${id}#1:waiting`, `publish:${id}#1:queued`]);
    }
    // In the queue by arrival: the plan's, not the build's end.
    expect((await store.jobs.dispatchable(clock.now())).map((j) => j.id)).toEqual(["kunit", "kselftest", "lint"]);
  });

  it("skips the build's dependents when it fails on the code, naming the build and how it ended", async () => {
    const { build } = await graph();
    await finishBuild(build, "failed", "3 errors; the first at drivers/x.c:12: expected ';'\nmore");
    for (const id of ["kunit", "kselftest"]) {
      const skipped = await job(id);
      expect(skipped).toMatchObject({
        state: "skipped",
        outcome: "skipped",
        reason: "build x86_64-kunit failed: 3 errors; the first at drivers/x.c:12: expected ';'",
      });
      expect(skipped.finishedAt).toBe(clock.now());
      expect(skipped.dispatchedAt).toBeNull();
      expect(await published(id)).toEqual([`publish:${id}#1:waiting`, `publish:${id}#1:skipped`]);
    }
    expect((await job("lint")).state).toBe("queued");
  });

  it("skips them when the build times out, and when it errors after its infrastructure retries, but leaves them waiting while it is retried", async () => {
    const { build } = await graph();
    await finishBuild(build, "timed_out");
    expect((await job("kunit")).reason).toBe("build x86_64-kunit timed out");

    const second = await graph({ groupKey: "other" }, "2-");
    await lifecycle.dispatch(second.build, "rack-1");
    await lifecycle.infrastructureFailure(await job("2-b"), "runner lost");
    expect((await job("2-b")).state).toBe("queued");
    expect((await job("2-kunit")).state).toBe("waiting");
    await lifecycle.dispatch(await job("2-b"), "rack-1");
    await lifecycle.infrastructureFailure(await job("2-b"), "runner lost again");
    expect((await job("2-b")).state).toBe("errored");
    expect(await job("2-kunit")).toMatchObject({ state: "skipped", reason: "build x86_64-kunit errored: runner lost again (after 2 attempts)" });
  });

  it("cancels waiting jobs with their plan, before their build, so that they end cancelled, not skipped", async () => {
    const service = new OrchestratorService({
      store,
      dispatcher: new RecordingDispatcher(),
      publisher: { publishJob: async () => undefined, publishPlan: async () => undefined },
      pools: [],
      clock,
      options: { owner: "test" },
    });
    const { plan } = await graph();
    expect(await service.cancelPlan(plan, "cancelled by a test")).toBe(4);
    for (const id of ["b", "kunit", "kselftest", "lint"]) expect(await job(id)).toMatchObject({ state: "cancelled", reason: "cancelled by a test" });
    expect(await published("kunit")).toEqual(["publish:kunit#1:waiting", "publish:kunit#1:cancelled"]);
  });

  it("skips the dependents of a build cancelled on its own", async () => {
    const { build } = await graph();
    await lifecycle.cancel(build, "/kto cancel x86_64-kunit");
    expect(await job("kunit")).toMatchObject({ state: "skipped", reason: "build x86_64-kunit was cancelled: /kto cancel x86_64-kunit" });
  });

  it("cancels the waiting jobs of a plan a newer push supersedes", async () => {
    await graph({ groupKey: "pr:o/r#1" });
    await submit([storeJob("next", [], 2)], { groupKey: "pr:o/r#1" });
    for (const id of ["b", "kunit", "kselftest", "lint"]) expect(await job(id)).toMatchObject({ state: "cancelled", outcome: "cancelled" });
    expect(await published("kunit")).toEqual(["publish:kunit#1:waiting", "publish:kunit#1:cancelled"]);
  });

  it("moves an approved job that boots a build to waiting, and straight to the queue once its build has succeeded", async () => {
    const { build, kunit, kselftest } = await graph({ approved: false });
    expect(kunit.state).toBe("awaiting_approval");
    expect(kunit.needsJobId).toBe("b");
    await lifecycle.approve(build);
    await lifecycle.approve(kunit);
    expect(await job("kunit")).toMatchObject({ state: "waiting", reason: "waiting for build x86_64-kunit" });
    await finishBuild(await job("b"), "succeeded");
    expect((await job("kunit")).state).toBe("queued");
    // Approved after its build succeeded: released in the approval's own transaction.
    await lifecycle.approve(kselftest);
    expect((await store.jobs.transitions("kselftest")).map((t) => t.to)).toEqual(["awaiting_approval", "waiting", "queued"]);
  });

  it("queues a re-run that reuses a build that succeeded at once, and skips one whose earlier build did not", async () => {
    const first = await graph({ groupKey: "a" });
    await finishBuild(first.build, "succeeded");
    await submit([storeDependent("kunit-again", "x86_64-kunit", [], 2, { needsJobId: "b" })], { groupKey: "rerun" });
    expect((await store.jobs.transitions("kunit-again")).map((t) => t.to)).toEqual(["waiting", "queued"]);
    expect(await published("kunit-again")).toEqual(["publish:kunit-again#1:waiting", "publish:kunit-again#1:queued"]);

    await submit([storeBuild("b2", "x86_64-kunit", [], 2), storeDependent("k2", "x86_64-kunit", [], 2)], { groupKey: "c" });
    await finishBuild(await job("b2"), "failed", "1 error");
    await submit([storeDependent("k2-again", "x86_64-kunit", [], 2, { needsJobId: "b2" })], { groupKey: "rerun2" });
    expect(await job("k2-again")).toMatchObject({ state: "skipped", reason: "build x86_64-kunit failed: 1 error" });
  });

  it("lets a waiting job move only to the queue, to skipped or to cancelled, and a skipped job nowhere", () => {
    expect(canTransition("waiting", "queued")).toBe(true);
    expect(canTransition("waiting", "skipped")).toBe(true);
    expect(canTransition("waiting", "cancelled")).toBe(true);
    expect(canTransition("waiting", "dispatched")).toBe(false);
    expect(canTransition("queued", "waiting")).toBe(false);
    expect(canTransition("awaiting_approval", "waiting")).toBe(true);
    for (const to of ["queued", "waiting", "dispatched", "succeeded"] as const) expect(canTransition("skipped", to)).toBe(false);
  });
});
