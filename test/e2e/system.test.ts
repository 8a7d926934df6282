import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import { demoConfig, demoWorkspace, SHARED_CCACHE } from "../helpers/demo-workspace.js";
import { LocalSystem, LOCAL_REPO } from "../helpers/local-system.js";
import { runningQemus } from "../helpers/processes.js";

const SHA = "5c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";

describe("end to end: a pull request to a kernel tree in, check runs out, on real Docker and QEMU with a real kernel build", () => {
  let dir: string;
  let system: LocalSystem;
  let workspace: Awaited<ReturnType<typeof demoWorkspace>>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-e2e-"));
    workspace = await demoWorkspace("e2e");
    // Two hosts sharing a build store: the suite that boots the build runs on either, from the store.
    system = await LocalSystem.start({
      dir,
      hosts: [
        { name: "host-a", runners: 1 },
        { name: "host-b", runners: 1 },
      ],
      workspace: workspace.dir,
      runnerEnv: { KTO_CCACHE_DIR: SHARED_CCACHE },
    });
  }, 600_000);

  afterAll(async () => {
    await system?.close();
    await workspace?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it("a signed pull_request.opened gives one completed check run per job: the kernel built, KUnit run in it, the right conclusions, annotations and artifact links", async () => {
    expect(await system.openPullRequest(1, SHA, await demoConfig())).toBe(200);
    const runs = await system.checkRunsCompleted(SHA, 5, 1_500_000);
    const byName = Object.fromEntries(runs.map((run) => [run.name, run]));
    expect(Object.keys(byName).sort()).toEqual(["kto / kunit", "kto / kunit-guest", "kto / smoke", "kto / userspace", "kto / x86_64-kunit"]);

    // The pull request's kernel, built, its outputs an artifact of its run; KUnit's example suite run in it.
    const build = byName["kto / x86_64-kunit"]!;
    expect(build.conclusion).toBe("success");
    expect(build.output.summary).toMatch(/0 errors, \d+ warnings?; ccache: /);
    expect(build.output.summary).toMatch(
      /\[Download the outputs\]\(https:\/\/github\.com\/octo-org\/linux\/actions\/runs\/\d+\/artifacts\/\d+\) \(artifact `kto-build-x86_64-kunit`\)/,
    );
    const kunit = byName["kto / kunit"]!;
    expect(kunit.conclusion).toBe("success");
    // Judged against the base branch first (it has no results here: nothing to call a regression), then the counts.
    expect(kunit.output.title).toMatch(/^no regressions · [1-9]\d* passed, 0 failed, 0 errored, [1-9]\d* skipped$/);
    // Its dispatch carried the build's handoff: the artifact and each output's digest.
    const kunitJob = system.github.state.dispatches
      .map((d) => JSON.parse(d.inputs.job!) as { id: string; build?: { artifact: string; files: { role: string; sha256: string }[] } })
      .find((job) => job.id === kunit.external_id)!;
    expect(kunitJob.build?.artifact).toBe("kto-build-x86_64-kunit");
    expect(kunitJob.build?.files.find((file) => file.role === "kernel")?.sha256).toMatch(/^[0-9a-f]{64}$/);

    expect(byName["kto / smoke"]).toMatchObject({ conclusion: "success", output: { title: "no regressions · 2 passed, 0 failed, 0 errored, 0 skipped" } });
    expect(byName["kto / userspace"]).toMatchObject({ conclusion: "failure", output: { title: "1 regression · 2 passed, 1 failed, 0 errored, 0 skipped" } });
    expect(byName["kto / userspace"]!.output.annotations).toEqual([
      expect.objectContaining({ path: "examples/tests/userspace.sh", start_line: 9, title: "arithmetic" }),
    ]);
    expect(byName["kto / kunit-guest"]).toMatchObject({ conclusion: "failure", output: { title: "1 regression · 1 passed, 1 failed, 0 errored, 0 skipped" } });
    expect(byName["kto / kunit-guest"]!.output.annotations).toEqual([
      expect.objectContaining({ path: "examples/tests/guest.sh", start_line: 16, title: "guest › kernel_release" }),
    ]);

    const dispatches = system.github.state.dispatches;
    for (const run of runs) {
      const dispatch = dispatches.find((d) => JSON.parse(d.inputs.job!).id === run.external_id)!;
      expect(run.details_url).toBe(`http://${new URL(system.github.url).host}/${LOCAL_REPO}/actions/runs/${dispatch.runId}`);
      // Each job's results, uploaded by the action and linked from its check run.
      expect(run.output.summary).toMatch(
        new RegExp(`\\[Download the logs and results\\]\\(https://github\\.com/${LOCAL_REPO}/actions/runs/${dispatch.runId}/artifacts/\\d+\\)`),
      );
    }
    const artifacts = system.results.artifacts.map((a) => a.name);
    expect(artifacts).toContain("kto-build-x86_64-kunit");
    for (const suite of ["smoke", "userspace", "kunit-guest", "kunit"])
      expect(artifacts.some((name) => name.includes(suite) && !name.startsWith("kto-build-"))).toBe(true);

    // Exactly once: one dispatch and one finished run per job, on the runner it was bound to.
    expect(dispatches).toHaveLength(5);
    // The check run completes on the action's report; the runner finishes its run just after.
    for (let i = 0; i < 100 && system.hosts.flatMap((h) => h.finished).length < 5; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const finished = system.hosts.flatMap((h) => h.finished);
    expect(finished.map((f) => f.runId).sort()).toEqual(dispatches.map((d) => d.runId).sort());
    for (const dispatch of dispatches) {
      const runsOn = JSON.parse(dispatch.inputs.runs_on!) as string[];
      // A run of several matrix jobs finishes once on each of their runners: this job's is the one.
      const job = JSON.parse(dispatch.inputs.job!) as { id: string };
      expect(runsOn[1]).toBe(`kto-runner-${finished.find((f) => f.runId === dispatch.runId && f.jobId === job.id)!.runner}`);
    }
    expect((await system.status()).counts).toMatchObject({ succeeded: 3, failed: 2, queued: 0, dispatched: 0, running: 0 });
    expect(system.github.rejected).toEqual([]);

    // Nothing is left behind: no container, no VM.
    expect(await new Docker().listContainers({ all: true, filters: { label: [OWNER_LABEL] } })).toEqual([]);
    expect(await runningQemus()).toEqual([]);
  }, 1_800_000);
});
