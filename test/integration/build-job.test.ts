import { copyFile, mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "@jest/globals";
import type { BuildOutputFile } from "../../src/config/job-spec.js";
import { sha256 } from "../../src/runners/artifacts.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { GUEST_MODULES } from "../../src/runners/guest-initramfs.js";
import { fakeKernelTree } from "../helpers/fake-kernel-tree.js";
import { buildJob, HOST_KERNEL, qemuJob, withTempDir } from "../helpers/job.js";

/** Outputs as a build hands them on: a file in `dir` under `path`, with its size and digest. */
async function handed(dir: string, path: string, role: BuildOutputFile["role"]): Promise<BuildOutputFile> {
  const full = join(dir, path);
  return { path, role, size: (await readFile(full)).length, sha256: await sha256(full) };
}

/**
 * The host kernel's guest modules packed as modules_install lays them out, with the
 * `build` link back into a tree that modules_install leaves: what a build's modules.tar.gz holds.
 */
async function modulesArchive(archive: string, staging: string): Promise<void> {
  const release = (await readFile(join(dirname(HOST_KERNEL), "release"), "utf8")).trim();
  const root = join(staging, "lib", "modules", release);
  await mkdir(join(root, "kernel"), { recursive: true });
  await symlink("/etc", join(root, "build"));
  for (const name of GUEST_MODULES) {
    const found = await execa("find", [join(dirname(HOST_KERNEL), "modules"), "-name", `${name}.ko`]);
    const path = found.stdout.split("\n")[0];
    if (path) await copyFile(path, join(root, "kernel", `${name}.ko`));
  }
  await execa("tar", ["-C", staging, "-czf", archive, "lib"]);
}

describe("a build job", () => {
  it("builds the workspace's tree into <jobDir>/build with the ccache it is given, and says what it made", () =>
    withTempDir(async (dir) => {
      const tree = await fakeKernelTree(join(dir, "tree"));
      const factory = new ExecutorFactory({ ccache: { dir: join(dir, "ccache"), maxSize: "1G" } });
      const phases: string[] = [];
      let bytes = 0;
      const result = await runJob(buildJob({ id: "x86_64-kunit" }), {
        factory,
        workspace: tree,
        jobDir: join(dir, "job"),
        onProgress: (event) => (event.kind === "phase" ? phases.push(event.phase) : (bytes += event.bytes)),
      });
      expect(result).toMatchObject({ jobId: "x86_64-kunit", status: "succeeded", outcome: "passed", results: null, logs: { stdout: "build/build.log" } });
      expect(result.build).toMatchObject({ build: "x86_64-kunit", dir: "build", outcome: "passed" });
      expect(result.build!.files.map((f) => f.path)).toEqual(["config", "bzImage", "vmlinux", "System.map", "build.log"]);
      for (const file of result.build!.files) expect(file.sha256).toBe(await sha256(join(dir, "job", "build", file.path)));
      expect(await readFile(join(dir, "job", "build", "build.log"), "utf8")).toMatch(/bzImage is ready/);
      expect(phases).toEqual(expect.arrayContaining(["building", "collecting"]));
      expect(bytes).toBe(result.build!.log.bytes);
      expect(JSON.parse(await readFile(join(dir, "job", "result.json"), "utf8"))).toEqual(result);
      // The toolchain's cache is under the dir the factory was given.
      expect((await stat(join(dir, "ccache", "gcc"))).isDirectory()).toBe(true);
    }));

  it("fails on the code with the compiler's error as an annotation, and is errored when the tree is no kernel tree", () =>
    withTempDir(async (dir) => {
      const tree = await fakeKernelTree(join(dir, "tree"), { broken: true });
      const factory = new ExecutorFactory({ ccache: { dir: join(dir, "ccache"), maxSize: "1G" } });
      const broken = await runJob(buildJob(), { factory, workspace: tree, jobDir: join(dir, "broken") });
      expect(broken).toMatchObject({ status: "failed", outcome: "failed" });
      expect(broken.reason).toBe("the build failed (exit 2): 1 error; the first: init/main.c:12: expected ';' before 'return'");
      expect(broken.build!.diagnostics.annotations[0]).toMatchObject({ severity: "error", place: { path: "init/main.c", line: 12, column: 5, inTree: true } });

      await mkdir(join(dir, "empty"));
      const none = await runJob(buildJob(), { factory, workspace: join(dir, "empty"), jobDir: join(dir, "none") });
      expect(none).toMatchObject({ status: "errored", outcome: "infrastructure" });
      expect(none.reason).toMatch(/is not a kernel tree: it has no Makefile$/);
    }));
});

describe("a QEMU job that boots a build", () => {
  it(
    "boots the kernel from the build's outputs, not the workspace, once every digest matches",
    () =>
      withTempDir(async (dir) => {
        const outputs = join(dir, "build");
        await mkdir(outputs);
        await copyFile(HOST_KERNEL, join(outputs, "bzImage"));
        await writeFile(join(outputs, "config"), "CONFIG_64BIT=y\n");
        await modulesArchive(join(outputs, "modules.tar.gz"), join(dir, "staging"));
        const files = [
          await handed(outputs, "bzImage", "kernel"),
          await handed(outputs, "config", "config"),
          await handed(outputs, "modules.tar.gz", "modules"),
        ];
        const job = qemuJob({
          id: "boots-build",
          kernel: "bzImage",
          modules: "modules.tar.gz",
          build: "x86_64",
          command: "echo booted-from-build",
          timeoutMs: 120_000,
        });
        const workspace = join(dir, "workspace");
        await mkdir(workspace);
        const result = await runJob(job, { factory: new ExecutorFactory(), workspace, jobDir: join(dir, "job"), build: { dir: outputs, files } });
        expect(result).toMatchObject({ status: "succeeded", outcome: "passed" });
        expect(await readFile(join(dir, "job", "console.log"), "utf8")).toContain("booted-from-build");

        // One byte changed after the build hashed it: the copy is not the build's, and nothing boots.
        await writeFile(join(outputs, "config"), "CONFIG_64BIT=n\n");
        const damaged = await runJob(job, { factory: new ExecutorFactory(), workspace, jobDir: join(dir, "damaged"), build: { dir: outputs, files } });
        expect(damaged).toMatchObject({ status: "errored", outcome: "infrastructure" });
        expect(damaged.reason).toBe(`the build's config has sha256 ${await sha256(join(outputs, "config"))}, the build made ${files[1]!.sha256}`);

        const notThere = await runJob(
          { ...job, kernel: "vmlinux" },
          { factory: new ExecutorFactory(), workspace, jobDir: join(dir, "elsewhere"), build: { dir: outputs, files } },
        );
        expect(notThere).toMatchObject({
          status: "errored",
          outcome: "config_error",
          reason: "kernel: vmlinux: not among the build's outputs (bzImage, config, modules.tar.gz)",
        });

        const unhanded = await runJob(job, { factory: new ExecutorFactory(), workspace, jobDir: join(dir, "unhanded") });
        expect(unhanded).toMatchObject({ status: "errored", outcome: "infrastructure", reason: "the outputs of build x86_64 were not handed to this job" });
      }),
    300_000,
  );

  it("refuses a job with neither command nor initramfs that boots no build", () =>
    withTempDir(async (dir) => {
      const result = await runJob(qemuJob({ command: undefined }), { factory: new ExecutorFactory(), workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
      expect(result.reason).toMatch(/only a build's kernel boots alone$/);
    }));
});
