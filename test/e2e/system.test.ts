import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import { LocalSystem, LOCAL_REPO } from "../helpers/local-system.js";
import { runningQemus } from "../helpers/processes.js";

const SHA = "5c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";

describe("end to end: a pull request in, check runs out, on real Docker and QEMU", () => {
  let dir: string;
  let system: LocalSystem;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-e2e-"));
    system = await LocalSystem.start({ dir, hosts: [{ name: "host-a", runners: 2 }] });
  });

  afterAll(async () => {
    await system?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a signed pull_request.opened gives one completed check run per job, with the right conclusions, annotations and artifact links", async () => {
    expect(await system.openPullRequest(1, SHA)).toBe(200);
    const runs = await system.checkRunsCompleted(SHA, 3);
    const byName = Object.fromEntries(runs.map((run) => [run.name, run]));
    expect(Object.keys(byName).sort()).toEqual(["kto / kunit-guest", "kto / smoke", "kto / userspace"]);

    expect(byName["kto / smoke"]).toMatchObject({ conclusion: "success", output: { title: "2 passed, 0 failed, 0 errored, 0 skipped" } });
    expect(byName["kto / userspace"]).toMatchObject({ conclusion: "failure", output: { title: "2 passed, 1 failed, 0 errored, 0 skipped" } });
    expect(byName["kto / userspace"]!.output.annotations).toEqual([
      expect.objectContaining({ path: "examples/tests/userspace.sh", start_line: 9, title: "arithmetic" }),
    ]);
    expect(byName["kto / kunit-guest"]).toMatchObject({ conclusion: "failure", output: { title: "1 passed, 1 failed, 0 errored, 0 skipped" } });
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
    expect(artifacts).toHaveLength(3);
    for (const suite of ["smoke", "userspace", "kunit-guest"]) expect(artifacts.some((name) => name.includes(suite))).toBe(true);

    // Exactly once: one dispatch and one finished run per job, on the runner it was bound to.
    expect(dispatches).toHaveLength(3);
    // The check run completes on the action's report; the runner finishes its run just after.
    for (let i = 0; i < 100 && system.hosts.flatMap((h) => h.finished).length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const finished = system.hosts.flatMap((h) => h.finished);
    expect(finished.map((f) => f.runId).sort()).toEqual(dispatches.map((d) => d.runId).sort());
    for (const dispatch of dispatches) {
      const runsOn = JSON.parse(dispatch.inputs.runs_on!) as string[];
      expect(runsOn[1]).toBe(`kto-runner-${finished.find((f) => f.runId === dispatch.runId)!.runner}`);
    }
    expect((await system.status()).counts).toMatchObject({ succeeded: 1, failed: 2, queued: 0, dispatched: 0, running: 0 });
    expect(system.github.rejected).toEqual([]);

    // Nothing is left behind: no container, no VM.
    expect(await new Docker().listContainers({ all: true, filters: { label: [OWNER_LABEL] } })).toEqual([]);
    expect(await runningQemus()).toEqual([]);
  });
});
