import { describe, expect, it } from "@jest/globals";
import type { JobRecord } from "../../../src/orchestrator/store/store.js";
import { GHES_VERSIONS } from "../../helpers/github-api-double.js";
import { jobReport } from "../../helpers/job-report.js";
import { until } from "../../helpers/until.js";
import { checkRuns, closeSystemAfterEach, deliver, HEAD, push, REPO, report, rerun, start, type System } from "./system.js";

/**
 * A pull request whose config has a kernel build and a suite that boots it, as GitHub shows
 * it on github.com and on GHES: the suite's check run waits, named after the build; a compile
 * error is an annotation at its line on the build's check run and the suite ends `skipped`
 * with a link to it; a build that succeeds hands its outputs to the suite's dispatch. The
 * double checks every request against the description of the API it stands for.
 */

closeSystemAfterEach();

const CONFIG = `version: 1
builds:
  - name: x86_64-kunit
    arch: x86_64
    config: [tinyconfig, CONFIG_KUNIT=y, CONFIG_KUNIT_EXAMPLE_TEST=y]
suites:
  - name: kunit
    runner: qemu
    build: x86_64-kunit
    results: ktap
`;
const digest = (c: string) => c.repeat(64);
const FILES = [
  { path: "bzImage", role: "kernel", size: 2_000_000, sha256: digest("a") },
  { path: "vmlinux", role: "vmlinux", size: 9_000_000, sha256: digest("b") },
  { path: "build.log", role: "log", size: 1_000, sha256: digest("c") },
];

/** A build job's report as the action sends it: its diagnostics, cache, outputs and artifact. */
function buildResult(status: "succeeded" | "failed", errors: { path: string; line: number; message: string }[] = []): Record<string, unknown> {
  return {
    ...jobReport("x86_64-kunit", status, { runner: "build", failures: [], reason: errors.length ? `${errors.length} error` : "built" }),
    build: {
      counts: { errors: errors.length, warnings: 0 },
      diagnostics: errors.map(({ path, line, message }) => ({
        severity: "error",
        tool: "compiler",
        place: { path, line, column: 3, inTree: true },
        message,
        flag: null,
        function: "kunit_example_simple_test",
        includedFrom: [],
        notes: [],
      })),
      diagnosticsOmitted: 0,
      ccacheHitRate: 0.25,
      droppedOptions: [],
      files: status === "succeeded" ? FILES : [],
      dir: "build",
      artifact:
        status === "succeeded" ? { name: "kto-build-x86_64-kunit", id: 5, url: "https://github.com/Codertocat/Hello-World/actions/runs/1/artifacts/5" } : null,
    },
  };
}

const checkRunOf = (s: System, name: string) => checkRuns(s, HEAD).find((c) => c.name === `kto / ${name}`);
const completed = (s: System, name: string) =>
  until(async () => (checkRunOf(s, name)?.status === "completed" ? checkRunOf(s, name) : null), `${name}'s check run completed`);
const dispatches = (s: System) =>
  s.github.state.dispatches.map((d) => JSON.parse(d.inputs.job!) as { id: string; spec: { id: string }; build?: unknown; trusted?: boolean });
const jobNamed = async (s: System, name: string): Promise<JobRecord> =>
  until(async () => (await s.app.store.jobs.list()).find((job) => job.name === name && job.state !== "cancelled") ?? null, `job ${name}`);

/** The pull request opened with the config above, on runners that boot x86_64 kernels in QEMU. */
async function opened(server: Server): Promise<System> {
  const s = await start(server.ghesVersion ? { ghesVersion: server.ghesVersion } : { server: "github.com" });
  for (const runner of s.github.state.runners.get(REPO)!) runner.labels.push({ id: 9, name: "qemu-x86_64", type: "custom" });
  await push(s, HEAD, CONFIG);
  return s;
}

type Server = { name: string; ghesVersion?: string; serverUrl: (s: System) => string };
const SERVERS: Server[] = [
  { name: "github.com", serverUrl: () => "https://github.com" },
  ...[...new Set([GHES_VERSIONS[0]!, GHES_VERSIONS.at(-1)!])].map((version) => ({
    name: `GHES ${version}`,
    ghesVersion: version,
    serverUrl: (s: System) => s.github.url,
  })),
];

describe.each(SERVERS)("a pull request with a kernel build and a suite that boots it, on $name", (server) => {
  it("shows the suite waiting for its build; a compile error is annotated at its line and the suite is skipped with a link to the build", async () => {
    const s = await opened(server);
    const waiting = await until(async () => checkRunOf(s, "kunit"), "the waiting suite's check run");
    expect(waiting).toMatchObject({ status: "queued", output: { title: "Waiting for build x86_64-kunit" } });
    expect(waiting.output.summary).toContain("waiting for build x86_64-kunit");
    // No runner is leased to it meanwhile: the build alone is dispatched.
    const build = await jobNamed(s, "x86_64-kunit");
    await until(async () => dispatches(s).find((job) => job.id === build.id), "the build's dispatch");
    expect(dispatches(s).map((job) => job.spec.id)).toEqual(["x86_64-kunit"]);

    await report(s, build.id, { kind: "started" });
    const error = { path: "lib/kunit/kunit-example-test.c", line: 30, message: "expected ';' before '}' token" };
    await report(s, build.id, {
      kind: "finished",
      status: "failed",
      outcome: "failed",
      reason: "1 error: lib/kunit/kunit-example-test.c:30: expected ';' before '}' token",
      result: buildResult("failed", [error]),
    });
    const built = await completed(s, "x86_64-kunit");
    expect(built.conclusion).toBe("failure");
    expect(built.output.annotations).toEqual([
      expect.objectContaining({ path: error.path, start_line: 30, end_line: 30, annotation_level: "failure", message: error.message }),
    ]);
    expect(built.output.summary).toContain("1 error, 0 warnings; ccache: 25% hits.");

    const skipped = await completed(s, "kunit");
    expect(skipped.conclusion).toBe("skipped");
    expect(skipped.output.title).toBe("Not run: build x86_64-kunit failed: 1 error: lib/kunit/kunit-example-test.c:30: expected ';' before '}' token");
    expect(skipped.output.summary).toContain(`(${server.serverUrl(s)}/${REPO}/runs/${built.id})`);
    expect(dispatches(s).map((job) => job.spec.id)).toEqual(["x86_64-kunit"]);

    // Re-run, the skipped suite runs with its build again: the build it booted did not succeed.
    expect(await deliver(s, "check_run", rerun({ ...skipped, head_sha: HEAD }))).toBe(200);
    const again = await until(async () => dispatches(s).find((job) => job.id !== build.id && job.spec.id === "x86_64-kunit"), "the build dispatched again");
    const kunitAgain = (await s.app.store.jobs.list({ planId: again.id.slice(0, again.id.lastIndexOf("/")) })).find((job) => job.name === "kunit")!;
    expect(kunitAgain).toMatchObject({ state: "waiting", needsJobId: again.id });
    expect(new Set(s.github.requests.map((r) => r.server.kind))).toEqual(new Set([server.ghesVersion ? "ghes" : "github.com"]));
    expect(s.github.rejected).toEqual([]);
  });

  it("dispatches the suite once its build succeeded, with the build's handoff inside its job input; re-running the suite reuses the build", async () => {
    const s = await opened(server);
    const build = await jobNamed(s, "x86_64-kunit");
    await until(async () => dispatches(s).find((job) => job.id === build.id), "the build's dispatch");
    await report(s, build.id, { kind: "started" });
    await report(s, build.id, { kind: "finished", status: "succeeded", outcome: "passed", result: buildResult("succeeded") });
    const built = await completed(s, "x86_64-kunit");
    expect(built.conclusion).toBe("success");
    expect(built.output.summary).toContain("[Download the outputs](https://github.com/Codertocat/Hello-World/actions/runs/1/artifacts/5)");

    const kunit = await jobNamed(s, "kunit");
    const dispatched = await until(async () => dispatches(s).find((job) => job.id === kunit.id), "the suite's dispatch");
    const runId = (await s.app.store.jobs.job(build.id))!.runId;
    expect(dispatched.build).toEqual({ jobId: build.id, runId, artifact: "kto-build-x86_64-kunit", files: FILES });
    // The owner's own branch: its build may add to the host's compiler cache.
    expect(dispatches(s).every((job) => job.trusted === true)).toBe(true);

    await report(s, kunit.id, { kind: "started" });
    await report(s, kunit.id, { kind: "finished", status: "failed", reason: "1 test failed" });
    const failed = await completed(s, "kunit");
    expect(failed.conclusion).toBe("failure");
    expect(await deliver(s, "check_run", rerun({ ...failed, head_sha: HEAD }))).toBe(200);
    const again = await until(async () => dispatches(s).find((job) => job.id !== kunit.id && job.spec.id === "kunit"), "the suite dispatched again");
    expect(again.build).toEqual({ jobId: build.id, runId, artifact: "kto-build-x86_64-kunit", files: FILES });
    expect(dispatches(s).filter((job) => job.spec.id === "x86_64-kunit")).toHaveLength(1);
    expect(s.github.rejected).toEqual([]);
  });
});
