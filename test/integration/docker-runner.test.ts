import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { DockerRunner } from "../../src/runners/docker-runner.js";
import { JOB_LABEL, OWNER_LABEL } from "../../src/runners/docker-options.js";
import { DockerUnavailableError } from "../../src/runners/errors.js";
import { RunnerFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { BUSYBOX_IMAGE, job, withTempDir } from "../helpers/job.js";

const docker = new Docker();
const runner = new DockerRunner({ docker });
const factory = new RunnerFactory({ docker: runner });
const REGISTRY_IMAGE = `${process.env.KTO_REGISTRY_ADDR ?? "127.0.0.1:5000"}/${BUSYBOX_IMAGE}`;

async function removeImage(name: string): Promise<void> {
  await docker.getImage(name).remove({ force: true }).catch(() => undefined);
}

describe("DockerRunner against the local engine", () => {
  beforeAll(() => removeImage(REGISTRY_IMAGE));
  afterAll(() => removeImage(REGISTRY_IMAGE));

  it("pulls a missing image from a registry, then runs it", async () => {
    await withTempDir(async (dir) => {
      const result = await runJob(job({ id: "pull", image: REGISTRY_IMAGE, command: "echo pulled" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result.status).toBe("succeeded");
      expect(result.metrics.imagePullMs).toBeGreaterThan(0);
      await expect(docker.getImage(REGISTRY_IMAGE).inspect()).resolves.toBeDefined();
    });
  });

  it("turns an image no registry has into an errored job that names the image", async () => {
    await withTempDir(async (dir) => {
      const image = "127.0.0.1:5000/kto/does-not-exist:1";
      const result = await runJob(job({ id: "nopull", image }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "errored", outcome: "infrastructure" });
      expect(result.reason).toContain(`cannot pull image ${image}`);
    });
  });

  it("says what to do when no engine answers, without hanging", async () => {
    const offline = new RunnerFactory({ docker: new DockerRunner({ docker: new Docker({ socketPath: "/nonexistent/docker.sock" }) }) });
    const attempt = offline.forJob(job());
    await expect(attempt).rejects.toBeInstanceOf(DockerUnavailableError);
    await expect(attempt).rejects.toThrow(/start dockerd .* or point DOCKER_HOST/);
  });

  it("stops and removes the container when the job is cancelled", async () => {
    await withTempDir(async (dir) => {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 800);
      const result = await runJob(job({ id: "cancel-me", command: "echo begun; sleep 60" }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
        signal: abort.signal,
      });
      expect(result).toMatchObject({ status: "cancelled", outcome: "cancelled", exitCode: null });
      const left = await docker.listContainers({ all: true, filters: { label: [`${JOB_LABEL}=cancel-me`] } });
      expect(left).toHaveLength(0);
    });
  });

  it("sweeps containers left by a kto process that no longer exists", async () => {
    const dead = `${(await import("node:os")).hostname()}:999999`;
    const orphan = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { [OWNER_LABEL]: dead } });
    const mine = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { [OWNER_LABEL]: DockerRunner.ownerId() } });
    try {
      expect(await runner.sweepOrphans()).toBeGreaterThanOrEqual(1);
      await expect(orphan.inspect()).rejects.toMatchObject({ statusCode: 404 });
      await expect(mine.inspect()).resolves.toBeDefined();
    } finally {
      await mine.remove({ force: true });
      await orphan.remove({ force: true }).catch(() => undefined);
    }
  });

  it("reads JUnit XML the job wrote into its results dir", async () => {
    await withTempDir(async (dir) => {
      const xml = '<testsuite name="s"><testcase name="good"/><testcase name="bad"><failure message="nope"/></testcase></testsuite>';
      const result = await runJob(job({ id: "junit", command: `echo '${xml}' > /results/report.xml`, results: "junit", resultsFile: "report.xml" }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result.results?.counts).toEqual({ passed: 1, failed: 1, skipped: 0, errored: 0, total: 2 });
      expect(result).toMatchObject({ status: "failed", exitCode: 0 });
    });
  });
});
