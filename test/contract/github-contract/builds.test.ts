import { describe, expect, it } from "@jest/globals";
import type { NewJob } from "../../../src/orchestrator/store/store.js";
import { GHES_VERSIONS } from "../../helpers/github-api-double.js";
import { bootsBuild } from "../../helpers/job.js";
import { jobReport } from "../../helpers/job-report.js";
import { storeBuild, storeDependent } from "../../helpers/orchestrator.js";
import { until } from "../../helpers/until.js";
import { checkRuns, closeSystemAfterEach, deliver, HEAD, REPO, report, rerun, start, suite, type System } from "./system.js";

/**
 * A plan with a kernel build and a job that boots it, as GitHub shows it: the job's check
 * run waits, named after the build, and ends `skipped` with a link to the build's check run
 * when the build fails; when the build succeeds, its dispatch carries the build's handoff.
 * The double checks every request against GitHub's description of the API.
 */

closeSystemAfterEach();

const PLAN = `${REPO}@${HEAD.slice(0, 12)}-builds`;
const BUILD = `${PLAN}/x86_64-kunit`;
const KUNIT = `${PLAN}/kunit`;
const digest = (c: string) => c.repeat(64);

/** The plan submitted as the App submits a pull request's, with its repository's runners brought in. */
async function submitGraph(s: System): Promise<void> {
  // Pull request #1, the owner's own branch, as a re-run's gate reads it.
  s.github.state.files.set(`${REPO}@${HEAD}:.github/kto.yml`, `version: 1\nsuites:\n${suite("unit")}`);
  s.github.state.pulls.set(`${REPO}#1`, { number: 1, head: { sha: HEAD, repo: { full_name: REPO } }, base: { ref: "master" }, author_association: "OWNER" });
  if (s.app.pool.track(REPO, 1)) await s.app.service.syncRunners();
  const jobs: NewJob[] = [
    storeBuild(BUILD, "x86_64-kunit", [], 2, { maxAttempts: 3 }),
    {
      ...storeDependent(KUNIT, "x86_64-kunit", [], 2, { name: "kunit", maxAttempts: 3 }),
      spec: bootsBuild("x86_64-kunit", { id: "kunit", timeoutMs: 60_000 }),
    },
  ];
  await s.app.service.submit({
    id: PLAN,
    source: ".github/kto.yml",
    workspace: REPO,
    repo: REPO,
    repoPrivate: false,
    groupKey: `pr:${REPO}#1`,
    installationId: 1,
    headSha: HEAD,
    defaultRef: "master",
    approved: true,
    gateReason: "the owner's own branch",
    publish: true,
    now: Date.now(),
    jobs,
  });
}

const checkRunOf = (s: System, name: string) => checkRuns(s, HEAD).find((c) => c.name === `kto / ${name}`);
const dispatches = (s: System) => s.github.state.dispatches.map((d) => JSON.parse(d.inputs.job!) as { id: string; spec: { id: string }; build?: unknown });
const dispatchOf = (s: System, jobId: string) => dispatches(s).find((job) => job.id === jobId);

describe.each(GHES_VERSIONS.length > 1 ? [GHES_VERSIONS[0]!, GHES_VERSIONS.at(-1)!] : [GHES_VERSIONS[0]!])(
  "a build and the job that boots it on GHES %s",
  (version) => {
    it("shows the job waiting for its build, then skipped with a link to the build's check run when the build fails on the code", async () => {
      const s = await start({ ghesVersion: version });
      await submitGraph(s);
      const waiting = await until(async () => checkRunOf(s, "kunit"), "the waiting job's check run");
      expect(waiting).toMatchObject({ status: "queued", output: { title: "Waiting for build x86_64-kunit" } });
      expect(waiting.output.summary).toContain("waiting for build x86_64-kunit");
      // No runner is leased to it meanwhile: the build alone is dispatched.
      await until(async () => dispatchOf(s, BUILD), "the build's dispatch");
      expect(dispatchOf(s, KUNIT)).toBeUndefined();

      await report(s, BUILD, { kind: "started" });
      await report(s, BUILD, {
        kind: "finished",
        status: "failed",
        outcome: "failed",
        reason: "1 error: drivers/misc/x.c:12: expected ';'",
        result: jobReport("x86_64-kunit", "failed", { runner: "build", reason: "1 error" }),
      });
      const build = await until(
        async () => (checkRunOf(s, "x86_64-kunit")?.status === "completed" ? checkRunOf(s, "x86_64-kunit") : null),
        "the build's check run",
      );
      const skipped = await until(
        async () => (checkRunOf(s, "kunit")?.status === "completed" ? checkRunOf(s, "kunit") : null),
        "the job's check run completed",
      );
      expect(skipped.conclusion).toBe("skipped");
      expect(skipped.output.title).toBe("Not run: build x86_64-kunit failed: 1 error: drivers/misc/x.c:12: expected ';'");
      expect(skipped.output.summary).toContain(`(${s.github.url}/${REPO}/runs/${build.id})`);
      expect(dispatchOf(s, KUNIT)).toBeUndefined();
      expect(await s.app.store.jobs.job(KUNIT)).toMatchObject({ state: "skipped", outcome: "skipped" });

      // Re-run, the skipped job runs with its build again: the build it booted did not succeed.
      expect(await deliver(s, "check_run", rerun({ ...skipped, head_sha: HEAD }))).toBe(200);
      const again = await until(async () => dispatches(s).find((job) => job.id !== BUILD && job.spec.id === "x86_64-kunit"), "the build dispatched again");
      const kunitAgain = (await s.app.store.jobs.list({ planId: again.id.slice(0, again.id.lastIndexOf("/")) })).find((job) => job.name === "kunit")!;
      expect(kunitAgain).toMatchObject({ state: "waiting", needsJobId: again.id });
      expect(s.github.rejected).toEqual([]);
    });

    it("dispatches the job once its build succeeded, with the build's handoff inside its job input", async () => {
      const s = await start({ ghesVersion: version });
      await submitGraph(s);
      await until(async () => dispatchOf(s, BUILD), "the build's dispatch");
      await report(s, BUILD, { kind: "started" });
      const files = [
        { path: "bzImage", role: "kernel", size: 2_000_000, sha256: digest("a") },
        { path: "vmlinux", role: "vmlinux", size: 9_000_000, sha256: digest("b") },
        { path: "build.log", role: "log", size: 1_000, sha256: digest("c") },
      ];
      await report(s, BUILD, {
        kind: "finished",
        status: "succeeded",
        outcome: "passed",
        result: { ...jobReport("x86_64-kunit", "succeeded", { runner: "build" }), build: { files } },
      });
      const dispatched = await until(async () => dispatchOf(s, KUNIT), "the job's dispatch");
      const built = (await s.app.store.jobs.job(BUILD))!;
      expect(dispatched.build).toEqual({ jobId: BUILD, runId: built.runId, artifact: "kto-build-x86_64-kunit", files });
      expect(s.github.state.dispatches.every((d) => Object.keys(d.inputs).length <= 10)).toBe(true);

      // Its tests fail; re-run, it boots the same build's outputs, queued at once, and the build is not run again.
      await report(s, KUNIT, { kind: "started" });
      await report(s, KUNIT, { kind: "finished", status: "failed", reason: "1 test failed" });
      const failed = await until(async () => (checkRunOf(s, "kunit")?.conclusion === "failure" ? checkRunOf(s, "kunit") : null), "the job failed");
      expect(await deliver(s, "check_run", rerun({ ...failed, head_sha: HEAD }))).toBe(200);
      const again = await until(async () => dispatches(s).find((job) => job.id !== KUNIT && job.spec.id === "kunit"), "the job dispatched again");
      expect(again.build).toEqual({ jobId: BUILD, runId: built.runId, artifact: "kto-build-x86_64-kunit", files });
      expect(dispatches(s).filter((job) => job.spec.id === "x86_64-kunit")).toHaveLength(1);

      // Re-run, the build runs again with the jobs that boot it.
      const buildRun = checkRunOf(s, "x86_64-kunit")!;
      expect(await deliver(s, "check_run", rerun({ ...buildRun, head_sha: HEAD }))).toBe(200);
      const rebuilt = await until(async () => dispatches(s).find((job) => job.id !== BUILD && job.spec.id === "x86_64-kunit"), "the build dispatched again");
      const plan = rebuilt.id.slice(0, rebuilt.id.lastIndexOf("/"));
      expect((await s.app.store.jobs.list({ planId: plan })).map((job) => [job.name, job.state, job.needsJobId])).toEqual([
        ["x86_64-kunit", "dispatched", null],
        ["kunit", "waiting", rebuilt.id],
      ]);
      expect(s.github.rejected).toEqual([]);
    });
  },
);
