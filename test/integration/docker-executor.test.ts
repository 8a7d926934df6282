import { chmod, copyFile, mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { execa } from "execa";
import type { DockerJob } from "../../src/config/job-spec.js";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { JOB_LABEL, OWNER_LABEL } from "../../src/runners/docker-options.js";
import { DockerUnavailableError } from "../../src/runners/errors.js";
import { ownerMark } from "../../src/runners/leftovers.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { BUSYBOX_IMAGE, GRANTS_EVERYTHING, job, withTempDir } from "../helpers/job.js";

const docker = new Docker();
// What these tests use of the opt-ins is granted here; what a host's policy refuses is test/security/host-policy.test.ts's.
const runner = new DockerExecutor({ docker, policy: async () => GRANTS_EVERYTHING });
const factory = new ExecutorFactory({ docker: runner });
const REGISTRY_IMAGE = `${process.env.KTO_REGISTRY_ADDR ?? "127.0.0.1:5000"}/${BUSYBOX_IMAGE}`;

async function removeImage(name: string): Promise<void> {
  await docker
    .getImage(name)
    .remove({ force: true })
    .catch(() => undefined);
}

/** Runs a job on the runner itself: exit code and output side by side, so a failed expectation shows why. */
async function execute(overrides: Partial<DockerJob>): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  return withTempDir(async (dir) => {
    const execution = await runner.execute(job(overrides), { workspace: dir, jobDir: join(dir, "job") });
    return { exitCode: execution.exitCode, stdout: execution.stdout.data.toString(), stderr: execution.stderr.data.toString() };
  });
}

/** kto/busybox:1 made the way self-hosted/provision.sh makes it, but with /tmp 0755 root:root as many images have it. */
async function importImageWithRootOnlyTmp(name: string): Promise<void> {
  await withTempDir(async (dir) => {
    const rootfs = join(dir, "rootfs");
    for (const sub of ["", "bin", "tmp", "proc", "sys", "dev", "etc", "work", "results"]) await mkdir(join(rootfs, sub), { recursive: true });
    await chmod(rootfs, 0o755);
    await chmod(join(rootfs, "tmp"), 0o755);
    await copyFile("/bin/busybox", join(rootfs, "bin", "busybox"));
    const applets = (await execa("/bin/busybox", ["--list"])).stdout.split("\n").filter((applet) => applet && applet !== "busybox");
    await Promise.all(applets.map((applet) => symlink("busybox", join(rootfs, "bin", applet))));
    const tarball = join(dir, "rootfs.tar");
    await execa("tar", ["-C", rootfs, "--owner=0", "--group=0", "--numeric-owner", "-cf", tarball, "."]);
    const [repo, tag] = name.split(":");
    const progress = await docker.importImage(tarball, { repo, tag });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(progress, (error: Error | null, events: { error?: string }[]) => {
        const failed = error?.message ?? events.find((e) => e.error)?.error;
        if (failed) reject(new Error(`docker import ${name}: ${failed}`));
        else resolve();
      }),
    );
  });
}

describe("DockerExecutor against the local engine", () => {
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
    const offline = new ExecutorFactory({ docker: new DockerExecutor({ docker: new Docker({ socketPath: "/nonexistent/docker.sock" }) }) });
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
    const mine = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["true"], Labels: { [OWNER_LABEL]: ownerMark() } });
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

describe("a docker job's /tmp", () => {
  const image = "kto-test/root-only-tmp:1";
  beforeAll(() => importImageWithRootOnlyTmp(image));
  afterAll(() => removeImage(image));

  it("is writable by the job's user and runs binaries, even where the image's /tmp is 0755 root:root", async () => {
    const ran = await execute({ image, command: "touch /tmp/x && cp /bin/busybox /tmp/busybox && /tmp/busybox echo ran-from-tmp" });
    expect(ran).toEqual({ exitCode: 0, stdout: "ran-from-tmp\n", stderr: "" });
  });

  it("is writable by a chosen user too", async () => {
    const ran = await execute({ image, user: "1000:1000", command: "touch /tmp/x && id -u" });
    expect(ran).toEqual({ exitCode: 0, stdout: "1000\n", stderr: "" });
  });
});

describe("a docker suite's opt-ins", () => {
  const lowerLoopback = "ip link set lo down && echo lo-down";

  it("lets a root job with NET_ADMIN configure its own network namespace", async () => {
    const ran = await execute({ user: "0:0", capabilities: ["NET_ADMIN"], command: lowerLoopback });
    expect(ran).toEqual({ exitCode: 0, stdout: "lo-down\n", stderr: "" });
  });

  it.each([
    ["by default", {}],
    ["as root without the capability", { user: "0:0" }],
  ])("refuses the same %s", async (_, overrides: Partial<DockerJob>) => {
    const ran = await execute({ ...overrides, command: lowerLoopback });
    expect(ran.exitCode).not.toBe(0);
    expect(ran.stdout).toBe("");
    expect(ran.stderr).toMatch(/Operation not permitted/);
  });

  it("passes an allowed device through only when the suite lists it", async () => {
    const open = "exec 3<>/dev/net/tun && echo opened";
    expect(await execute({ user: "0:0", devices: ["/dev/net/tun"], command: open })).toEqual({ exitCode: 0, stdout: "opened\n", stderr: "" });
    const without = await execute({ user: "0:0", command: open });
    expect(without.exitCode).not.toBe(0);
    expect(without.stderr).toContain("/dev/net/tun");
  });
});
