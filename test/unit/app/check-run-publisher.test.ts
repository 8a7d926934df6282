import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { CheckRunPublisher } from "../../../src/app/github/check-run-publisher.js";
import { LISTING_LAG_MS } from "../../../src/app/github/check-runs-on-github.js";
import { jobReportSchema } from "../../../src/app/http/job-report-schema.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { JobLifecycle } from "../../../src/orchestrator/job-lifecycle.js";
import { DeferredError } from "../../../src/orchestrator/outbox-worker.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import type { JobRecord, Store } from "../../../src/orchestrator/store/store.js";
import { APP_ID, startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { installationOctokits } from "../../helpers/installation-octokits.js";
import { jobReport } from "../../helpers/job-report.js";
import { storeJob } from "../../helpers/orchestrator.js";
import { freshStore, submitPullRequestPlan } from "../../helpers/stores.js";

/** `count` failing tests of lib/math.c, each at its own line. */
const failingTests = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    name: `case ${i}`,
    path: ["math"],
    status: "failed" as const,
    reason: `case ${i} failed`,
    location: { file: "lib/math.c", line: i + 1 },
  }));

/**
 * CheckRunPublisher on its own, against the GitHub API double: what each job state shows,
 * how its annotations go out, and how a create whose answer was lost is found rather than sent
 * twice, on the orchestrator's clock.
 */

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";

type CheckRun = {
  id: number;
  name: string;
  external_id: string;
  status: string;
  conclusion?: string;
  details_url?: string;
  actions?: { identifier: string }[];
  output: { title: string; summary: string; annotations?: { start_line: number }[] };
};

describe("CheckRunPublisher", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  let clock: ManualClock;
  let lifecycle: JobLifecycle;
  let publisher: CheckRunPublisher;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    ({ store, dispose } = await freshStore("sqlite"));
    clock = new ManualClock(1_700_000_000_000);
    lifecycle = new JobLifecycle(store, clock, undefined, true);
    publisher = new CheckRunPublisher(store, installationOctokits(github), { now: () => clock.now(), serverUrl: "https://github.com", appId: APP_ID });
    await store.runners.upsertRunners([
      { id: "rack-1", pool: "static", labels: ["x86_64"], capacity: 1, state: "online", lastSeen: clock.now(), scope: UNRESTRICTED },
    ]);
  });

  afterEach(async () => {
    await dispose();
    await github.close();
  });

  /** A pull request's plan of `names`, approved or waiting for approval. */
  async function planned(names: string[], approved = true): Promise<JobRecord[]> {
    await submitPullRequestPlan(store, {
      id: "p",
      repo: REPO,
      headSha: SHA,
      approved,
      ...(approved ? {} : { approvalReason: "Waiting for approval: it comes from the fork stranger/Hello-World." }),
      now: clock.now(),
      jobs: names.map((name) => storeJob(`p/${name}`, ["x86_64"], 2, { name })),
    });
    return store.jobs.list({ planId: "p" });
  }

  const job = async (id = "p/unit") => (await store.jobs.job(id))!;
  const checkRuns = () => [...github.state.checkRuns.values()] as unknown as CheckRun[];
  const count = (operationId: string) => github.requests.filter((r) => r.operationId === operationId).length;

  it("keeps one check run per job true to its state: queued with its place and labels, dispatched and running with the run's link", async () => {
    const [first, second] = await planned(["unit", "boot"]);
    await publisher.publishJob(first!);
    await publisher.publishJob(second!);
    const unit = checkRuns().find((c) => c.name === "kto / unit")!;
    expect(unit).toMatchObject({ external_id: "p/unit", status: "queued", output: { title: "Queued, position 1" } });
    expect(unit.output.summary).toBe(
      "Waiting for an idle runner with labels: x86_64.\n\nTo cancel this job alone, comment `/kto cancel unit` on the pull request.",
    );
    expect(checkRuns().find((c) => c.name === "kto / boot")!.output.title).toBe("Queued, position 2");
    expect((await job()).checkRunId).toBe(unit.id);

    await lifecycle.dispatch(await job(), "rack-1");
    await store.jobs.setRunId("p/unit", 1, "4242");
    await publisher.publishJob(await job());
    expect(unit).toMatchObject({ status: "queued", output: { title: "Dispatched" }, details_url: `https://github.com/${REPO}/actions/runs/4242` });
    await lifecycle.recordRunEvent("p/unit", 1, { kind: "started" });
    await publisher.publishJob(await job());
    expect(unit).toMatchObject({ status: "in_progress", output: { title: "Running" } });
    expect(unit.output.summary).toContain("Running on rack-1.");
    expect([count("checks/create"), count("checks/update")]).toEqual([2, 2]);
    expect(github.rejected).toEqual([]);
  });

  it("completes a failed job with its test counts and a Re-run button, sending its first 50 annotations with its final update, in one request", async () => {
    await planned(["unit"]);
    await publisher.publishJob(await job());
    await lifecycle.dispatch(await job(), "rack-1");
    const failures = failingTests(120);
    const result = jobReport("unit", "failed", { failures, tests: { total: 120, passed: 0, failed: 120, errored: 0, skipped: 0 } });
    await lifecycle.recordRunEvent("p/unit", 1, { kind: "finished", status: "failed", outcome: "failed", reason: "120 of 120 tests failed", result });
    const updatesBefore = count("checks/update");
    await publisher.publishJob(await job());
    const unit = checkRuns()[0]!;
    expect(unit).toMatchObject({ status: "completed", conclusion: "failure", output: { title: "0 passed, 120 failed, 0 errored, 0 skipped" } });
    expect(unit.actions).toEqual([{ label: "Re-run failed", identifier: "rerun", description: "Run this job again" }]);
    expect(unit.output.annotations!.map((a) => a.start_line)).toEqual(failures.slice(0, 50).map((f) => f.location.line));
    const sizes = github.requests
      .filter((r) => r.operationId === "checks/update")
      .slice(updatesBefore)
      .map((r) => (r.body.output as { annotations: unknown[] }).annotations.length);
    expect(sizes).toEqual([50]);
    expect(github.rejected).toEqual([]);
  });

  it("annotates a build's compile errors at their lines before its warnings, and a test job's oops at the top frame in the tree, from reports as the App takes them", async () => {
    await planned(["build", "boot"]);
    const diagnostic = (severity: "error" | "warning", path: string, line: number, message: string) => ({
      severity,
      tool: "compiler" as const,
      place: { path, line, column: 5, inTree: true },
      message,
      flag: severity === "warning" ? "-Wunused-variable" : null,
      function: "kunit_example_test",
      includedFrom: [],
      notes: [],
    });
    const build = jobReportSchema.parse({
      ...jobReport("build", "failed", { runner: "build", failures: [] }),
      build: {
        counts: { errors: 1, warnings: 1 },
        // As a runner lists them; the check run puts the error first whatever their order.
        diagnostics: [
          diagnostic("warning", "lib/kunit/kunit-example-test.c", 12, "unused variable 'x'"),
          diagnostic("error", "lib/kunit/kunit-example-test.c", 30, "expected ';' before '}' token"),
        ],
        diagnosticsOmitted: 0,
        ccacheHitRate: 0.5,
        droppedOptions: [],
        files: [],
        dir: "build",
      },
    });
    const boot = jobReportSchema.parse({
      ...jobReport("boot", "failed"),
      crash: { location: { file: "lib/kunit/test.c", line: 77 }, frames: ["kunit_try_run_case+0x4f/0x90 lib/kunit/test.c:77"] },
    });
    for (const [id, result] of [
      ["p/build", build],
      ["p/boot", boot],
    ] as const) {
      await publisher.publishJob(await job(id));
      await lifecycle.dispatch(await job(id), "rack-1");
      await lifecycle.recordRunEvent(id, 1, { kind: "finished", status: "failed", outcome: "failed", reason: "it failed", result });
      await publisher.publishJob(await job(id));
    }
    const annotated = (name: string) =>
      (
        checkRuns().find((c) => c.name === name)!.output.annotations as unknown as {
          path: string;
          start_line: number;
          annotation_level: string;
          title: string;
        }[]
      ).map((a) => [a.path, a.start_line, a.annotation_level, a.title]);
    expect(annotated("kto / build")).toEqual([
      ["lib/kunit/kunit-example-test.c", 30, "failure", "compiler error"],
      ["lib/kunit/kunit-example-test.c", 12, "warning", "compiler warning [-Wunused-variable]"],
    ]);
    expect(annotated("kto / boot")).toEqual([
      ["lib/kunit/test.c", 77, "failure", "the kernel oopsed here"],
      ["tests/case.sh", 9, "failure", "case_2"],
    ]);
    expect(github.rejected).toEqual([]);
  });

  it("shows a plan waiting for approval as one check run asking for it, listing its jobs; approved, a newer one says so", async () => {
    const jobs = await planned(["unit", "boot"], false);
    await publisher.publishJob(jobs[0]!);
    expect(checkRuns()).toHaveLength(1);
    const approval = checkRuns()[0]!;
    expect(approval).toMatchObject({ name: "kto / approval", external_id: "plan:p", status: "completed", conclusion: "action_required" });
    expect(approval.output.title).toBe("Waiting for approval: 2 jobs");
    expect(approval.output.summary).toContain("- `kto / unit` (labels: x86_64)\n- `kto / boot` (labels: x86_64)");
    for (const waiting of jobs) await lifecycle.approve(waiting);
    await publisher.publishPlan("p");
    // GitHub keeps a completed check run's conclusion: the hold stays, and a newer one of the same name, which GitHub shows, ends it.
    expect(checkRuns()).toHaveLength(2);
    expect(approval).toMatchObject({ conclusion: "action_required" });
    expect(checkRuns()[1]).toMatchObject({ name: "kto / approval", external_id: "plan:p:end", conclusion: "success", output: { title: "Approved: 2 jobs" } });
    await publisher.publishPlan("p");
    expect(checkRuns()).toHaveLength(2);
    expect(github.rejected).toEqual([]);
  });

  it("shows nothing for a plan approved before its hold was shown", async () => {
    for (const waiting of await planned(["unit"], false)) await lifecycle.approve(waiting);
    await publisher.publishPlan("p");
    expect(checkRuns().filter((c) => c.name === "kto / approval")).toEqual([]);
  });

  it("ends a hold that will not run with a newer cancelled check run, and leaves the end to a newer plan of the commit that still holds", async () => {
    await planned(["unit"], false);
    await publisher.publishPlan("p");
    // The commit planned again and held again supersedes the first plan, whose hold then ends
    // without a check run of its own: the newer plan's hold is what the commit shows.
    clock.advance(1_000);
    const held = { approved: false, approvalReason: "Waiting for approval: it comes from the fork stranger/Hello-World." };
    await submitPullRequestPlan(store, {
      id: "q",
      repo: REPO,
      headSha: SHA,
      now: clock.now(),
      jobs: [storeJob("q/unit", ["x86_64"], 2, { name: "unit" })],
      ...held,
    });
    await publisher.publishPlan("p");
    await publisher.publishPlan("q");
    const shown = () => checkRuns().map((c) => [c.external_id, c.conclusion]);
    expect(shown()).toEqual([
      ["plan:p", "action_required"],
      ["plan:q", "action_required"],
    ]);
    await lifecycle.cancel(await job("q/unit"), "cancelled by @maintainer");
    await publisher.publishPlan("q");
    expect(shown()).toEqual([
      ["plan:p", "action_required"],
      ["plan:q", "action_required"],
      ["plan:q:end", "cancelled"],
    ]);
    expect(checkRuns()[2]!.output.title).toBe("Not run: cancelled by @maintainer");
    expect(github.rejected).toEqual([]);
  });

  describe("a finished job's check run, whatever its content", () => {
    /** The unit job dispatched and finished with 120 failing tests, its check run in progress on GitHub. */
    async function finishedWithFailures(reason = "120 of 120 tests failed"): Promise<void> {
      await planned(["unit"]);
      await publisher.publishJob(await job());
      await lifecycle.dispatch(await job(), "rack-1");
      await store.jobs.setRunId("p/unit", 1, "4242");
      const failures = failingTests(120);
      const result = {
        ...jobReport("unit", "failed", { failures, tests: { total: 120, passed: 0, failed: 120, errored: 0, skipped: 0 } }),
        artifactUrl: "https://github.com/a/1",
      };
      await lifecycle.recordRunEvent("p/unit", 1, { kind: "finished", status: "failed", outcome: "failed", reason, result });
    }

    it("completes with a short summary when GitHub refuses its output: the conclusion, the Re-run button and where the results are land, what was left out is named", async () => {
      await finishedWithFailures();
      github.state.outputRefusals.push("Invalid request.\n\nOnly 65535 characters are allowed; 65672 were supplied.");
      await publisher.publishJob(await job());
      const unit = checkRuns()[0]!;
      expect(unit).toMatchObject({
        status: "completed",
        conclusion: "failure",
        details_url: `https://github.com/${REPO}/actions/runs/4242`,
        output: { title: "0 passed, 120 failed, 0 errored, 0 skipped" },
      });
      expect(unit.actions).toEqual([{ label: "Re-run failed", identifier: "rerun", description: "Run this job again" }]);
      // Whatever GitHub objected to may be in them: neither the full summary nor the annotations go again.
      expect(unit.output.annotations).toEqual([]);
      expect(unit.output.summary).toContain(
        "**GitHub refused this check run's full output** (Invalid request. Only 65535 characters are allowed; 65672 were supplied.)",
      );
      expect(unit.output.summary).toMatch(/Left out: the summary \(\d+ bytes\) and 50 annotations\./);
      expect(unit.output.summary).toContain("[the results artifact](https://github.com/a/1)");
      expect(unit.output.summary).toContain(`[the workflow run](https://github.com/${REPO}/actions/runs/4242)`);
      expect(github.state.outputRefusals).toEqual([]);
      expect(github.rejected).toEqual([]);
    });

    it("sends its annotations once when a report recorded while it ran finds it finished, and the finished state's own report follows", async () => {
      await finishedWithFailures();
      // The report of "running", sent after the job finished: it shows the conclusion, and leaves the annotations to the next.
      await publisher.publishJob(await job(), { mayHaveLanded: false, recordedFor: "running" });
      expect(checkRuns()[0]).toMatchObject({ status: "completed", conclusion: "failure" });
      expect(checkRuns()[0]!.output.annotations).toEqual([]);
      await publisher.publishJob(await job(), { mayHaveLanded: false, recordedFor: "failed" });
      expect(checkRuns()[0]!.output.annotations).toHaveLength(50);
      const annotated = github.requests.filter((r) => ((r.body.output as { annotations?: unknown[] } | undefined)?.annotations?.length ?? 0) > 0);
      expect(annotated).toHaveLength(1);
      expect(github.rejected).toEqual([]);
    });

    it("completes with its summary cut to GitHub's 65,535 bytes when ✅, ❌ and › make it longer in bytes than in characters", async () => {
      // 65,534 characters, 3 bytes each but the spaces: GitHub counts 131,000-odd bytes.
      const reason = "✅ passed › ❌ failed › ".repeat(3_000).slice(0, 65_534);
      expect(reason.length).toBeLessThanOrEqual(65_535);
      expect(Buffer.byteLength(reason)).toBeGreaterThan(65_535);
      await planned(["unit"]);
      await publisher.publishJob(await job());
      await lifecycle.dispatch(await job(), "rack-1");
      await lifecycle.recordRunEvent("p/unit", 1, { kind: "finished", status: "errored", outcome: "infrastructure", reason });
      await publisher.publishJob(await job());
      const unit = checkRuns()[0]!;
      expect(unit).toMatchObject({ status: "completed", conclusion: "failure" });
      expect(Buffer.byteLength(unit.output.summary)).toBeLessThanOrEqual(65_535);
      expect(unit.output.summary).toMatch(/… \d+ more bytes cut \(GitHub's limit\)/);
      expect(github.rejected).toEqual([]);
    });
  });

  it("shows a plan waiting for approval with a short summary when GitHub refuses the list of its jobs, still asking for approval", async () => {
    const jobs = await planned(["unit", "boot"], false);
    github.state.outputRefusals.push("Invalid request.");
    await publisher.publishJob(jobs[0]!);
    expect(checkRuns()).toHaveLength(1);
    const approval = checkRuns()[0]!;
    expect(approval).toMatchObject({
      name: "kto / approval",
      status: "completed",
      conclusion: "action_required",
      output: { title: "Waiting for approval: 2 jobs" },
    });
    expect(approval.output.summary).toContain("**GitHub refused this check run's full output** (Invalid request.)");
    expect(approval.output.summary).toContain("The dashboard lists every job.");
    expect(github.rejected).toEqual([]);
  });

  describe("a create whose answer was lost", () => {
    /** The first create of the unit job's check run: GitHub makes it, and its answer is lost on the way back. */
    async function createLost(unlistedFor: number): Promise<number> {
      await planned(["unit"]);
      github.state.lostAnswers.set("checks/create", [502]);
      github.state.checkRunsUnlistedFor = unlistedFor;
      const sentAt = clock.now();
      await expect(publisher.publishJob(await job())).rejects.toMatchObject({ status: 502 });
      expect(await job()).toMatchObject({ checkRunId: null, checkRunRequestedAt: sentAt });
      return sentAt;
    }

    it(`is looked for, not sent again, for ${LISTING_LAG_MS / 1000} s after it was sent by the orchestrator's clock; then it is taken as not made`, async () => {
      const sentAt = await createLost(Number.MAX_SAFE_INTEGER);
      clock.advance(3_000);
      const early = await publisher.publishJob(await job(), { mayHaveLanded: true }).catch((error: unknown) => error);
      expect(early).toBeInstanceOf(DeferredError);
      expect((early as DeferredError).retryAt).toBe(sentAt + 5_000);
      clock.advance(6_999);
      const late = await publisher.publishJob(await job(), { mayHaveLanded: true }).catch((error: unknown) => error);
      expect((late as DeferredError).retryAt).toBe(sentAt + LISTING_LAG_MS);
      expect(count("checks/create")).toBe(1);
      expect(count("checks/list-for-suite")).toBe(2);

      clock.advance(1);
      await publisher.publishJob(await job(), { mayHaveLanded: true });
      expect(count("checks/create")).toBe(2);
      expect((await job()).checkRunId).toBe(checkRuns().at(-1)!.id);
      expect(github.rejected).toEqual([]);
    });

    it("is found once GitHub lists it, and updated rather than created twice", async () => {
      await createLost(1);
      clock.advance(1_000);
      await expect(publisher.publishJob(await job(), { mayHaveLanded: true })).rejects.toBeInstanceOf(DeferredError);
      clock.advance(2_000);
      await publisher.publishJob(await job(), { mayHaveLanded: true });
      expect(checkRuns()).toHaveLength(1);
      expect((await job()).checkRunId).toBe(checkRuns()[0]!.id);
      expect([count("checks/create"), count("checks/update")]).toEqual([1, 1]);
      expect(github.rejected).toEqual([]);
    });
  });
});
