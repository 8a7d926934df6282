import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import type { JobSpec } from "../../src/config/job-spec.js";
import { localBuildOutputs } from "../../src/cli/local-builds.js";
import { LocalDispatcher } from "../../src/cli/local-dispatcher.js";
import { localJobLabels } from "../../src/cli/local-pool.js";
import type { RunEvent } from "../../src/orchestrator/dispatcher.js";
import type { JobReads, JobRecord } from "../../src/orchestrator/store/store.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import type { RunResult } from "../../src/runners/types.js";
import { fakeKernelTree } from "../helpers/fake-kernel-tree.js";
import { buildJob, HOST_KERNEL, qemuJob, withTempDir } from "../helpers/job.js";

const PLAN = "20261205T120000-abcdef";

function record(spec: JobSpec, fields: Partial<JobRecord> = {}): JobRecord {
  return {
    seq: 1,
    id: `${PLAN}/${spec.slug}`,
    planId: PLAN,
    name: spec.id,
    repo: null,
    repoPrivate: null,
    spec,
    labels: localJobLabels(spec.labels, spec.runner),
    priority: spec.priority,
    state: "dispatched",
    attempt: 1,
    maxAttempts: 2,
    retriesLeft: 0,
    failedAttempts: 0,
    flaky: false,
    notBefore: 0,
    runnerId: "local",
    leaseExpires: null,
    deadline: null,
    runId: null,
    outcome: null,
    reason: null,
    result: null,
    createdAt: 0,
    queuedAt: 0,
    dispatchedAt: null,
    startedAt: null,
    finishedAt: null,
    checkRunId: null,
    checkRunRequestedAt: null,
    needsJobId: null,
    batchKey: null,
    ...fields,
  };
}

/** The store's reads as the local dispatcher's handoff needs them: the plan's jobs. */
function readsOf(records: () => JobRecord[]): JobReads {
  return { jobs: { list: async () => records() } } as unknown as JobReads;
}

describe("kto run hands a build's outputs to the jobs that boot it", () => {
  it(
    "runs a build job like any job, then boots its kernel from the build's dir of the results folder",
    () =>
      withTempDir(async (dir) => {
        const tree = await fakeKernelTree(join(dir, "tree"), { kernel: HOST_KERNEL });
        const build = buildJob({ id: "x86_64-kunit", slug: "x86_64-kunit" });
        const boots = qemuJob({ id: "kunit", slug: "kunit", kernel: "bzImage", build: "x86_64-kunit", command: undefined, timeoutMs: 120_000 });
        const records = [record(build), record(boots)];
        const finished = new Map<string, RunResult>();
        const outDir = join(dir, "results");
        const dispatcher = new LocalDispatcher({
          factory: new ExecutorFactory({ ccache: { dir: join(dir, "ccache"), maxSize: "1G" } }),
          workspace: tree,
          outDir,
          heartbeatMs: 60_000,
          recordRunEvent: async (jobId: string, _attempt: number, event: RunEvent) => {
            if (event.kind !== "finished") return;
            finished.set(jobId, event.result as RunResult);
            const at = records.findIndex((r) => r.id === jobId);
            records[at] = { ...records[at]!, state: event.status, result: event.result };
          },
          buildOutputs: (job) =>
            localBuildOutputs(
              readsOf(() => records),
              outDir,
              job,
            ),
        });

        await dispatcher.dispatch({ key: "k1", entries: [{ job: records[0]!, runnerId: "local" }], sentAt: null });
        await dispatcher.idle();
        expect(finished.get(`${PLAN}/x86_64-kunit`)).toMatchObject({ status: "succeeded", build: { dir: "build" } });

        await dispatcher.dispatch({ key: "k2", entries: [{ job: records[1]!, runnerId: "local" }], sentAt: null });
        await dispatcher.idle();
        // The build's kernel booted alone: Debian's kernel, with no initramfs, stops where it looks for a root.
        expect(await readFile(join(outDir, "jobs", "kunit", "console.log"), "utf8")).toMatch(/VFS: Unable to mount root fs/);
        expect(finished.get(`${PLAN}/kunit`)).toMatchObject({ outcome: "boot_failure" });

        // A build output changed after it was built is not booted.
        await writeFile(join(outDir, "jobs", "x86_64-kunit", "build", "System.map"), "changed");
        await dispatcher.dispatch({ key: "k3", entries: [{ job: { ...records[1]!, attempt: 2 }, runnerId: "local" }], sentAt: null });
        await dispatcher.idle();
        expect(finished.get(`${PLAN}/kunit`)).toMatchObject({ status: "errored", outcome: "infrastructure" });
        expect(finished.get(`${PLAN}/kunit`)!.reason).toMatch(/^the build's System.map has 7 bytes, the build made \d+$/);
      }),
    300_000,
  );

  it("errors a job whose build has not succeeded, without running it", async () => {
    const build = buildJob({ id: "x86_64" });
    const boots = qemuJob({ id: "boots", build: "x86_64" });
    const reads = readsOf(() => [record(build, { state: "failed" }), record(boots)]);
    await expect(localBuildOutputs(reads, "/results", record(boots))).rejects.toThrow("build x86_64 has no outputs to boot: it has not succeeded");
    await expect(localBuildOutputs(reads, "/results", record(qemuJob()))).resolves.toBeUndefined();
  });

  it("asks for Docker for a build, as a machine without it cannot build", () => {
    expect(localJobLabels([], "build")).toEqual(["kto.runner=docker"]);
  });
});
