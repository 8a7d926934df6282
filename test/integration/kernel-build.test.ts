import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { buildSchema } from "../../src/config/build-schema.js";
import { JOB_LABEL } from "../../src/runners/docker-options.js";
import { writeCpio } from "../../src/runners/cpio.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { buildKernel } from "../../src/runners/build/build-kernel.js";
import type { BuildResult } from "../../src/runners/build/build-result.js";
import { DEFAULT_BUILDER_IMAGE, kernelBuildSpec } from "../../src/runners/build/build-spec.js";
import { ccacheScope } from "../../src/runners/build/build-job.js";
import { kernelTree, overlayTree, replaceFile, SHARED_CCACHE } from "../helpers/kernel-tree.js";
import { qemuJob } from "../helpers/job.js";

/** tinyconfig with a serial console, an initramfs and KUnit's example suite: small, and it boots and tests. */
const KUNIT_BUILD = {
  name: "x86_64-kunit",
  config: [
    "tinyconfig",
    "CONFIG_64BIT=y",
    "CONFIG_PRINTK=y",
    "CONFIG_TTY=y",
    "CONFIG_SERIAL_8250=y",
    "CONFIG_SERIAL_8250_CONSOLE=y",
    "CONFIG_BLK_DEV_INITRD=y",
    "CONFIG_KUNIT=y",
    "CONFIG_KUNIT_EXAMPLE_TEST=y",
    // Asked for and dropped by Kconfig: a misspelt name, and ext4 on a kernel without block devices.
    "CONFIG_KUNIT_EXMAPLE_TEST=y",
    "CONFIG_EXT4_FS=y",
  ],
  hardware: { cpus: 2 },
  timeout: "60m",
};
const spec = kernelBuildSpec(buildSchema.parse(KUNIT_BUILD));
const BUILD_TIMEOUT_MS = 60 * 60_000;

const docker = new Docker();
let tree: string;
let scratch: string;
let ccacheDir: string;
let cold: BuildResult;

async function fileSha256(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

beforeAll(async () => {
  // Without the image buildKernel would try to pull it from a registry that has no such
  // image, and every test would fail on a reason that does not say what is missing.
  await docker
    .getImage(DEFAULT_BUILDER_IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`the ${DEFAULT_BUILDER_IMAGE} image is missing: scripts/setup.sh makes it (self-hosted/provision.sh)`);
    });
  tree = await kernelTree();
  scratch = await mkdtemp(join(tmpdir(), "kto-kernel-build-"));
  // Kept between runs, as on a runner host: the first run builds cold, later ones warm.
  // The cache the end-to-end test's and the demo's repository use on their runner hosts: one cold build per machine.
  ccacheDir = join(SHARED_CCACHE, ccacheScope("octo-org/linux"));
  const started = Date.now();
  process.stdout.write("kernel build: building tinyconfig with KUnit; with an empty ccache (a fresh machine) this takes several minutes\n");
  cold = await buildKernel({ spec, tree, outDir: join(scratch, "kunit"), ccacheDir });
  process.stdout.write(`kernel build: ${cold.outcome} in ${((Date.now() - started) / 1000).toFixed(0)} s, ccache hit rate ${cold.ccache?.hitRate}\n`);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("building a real kernel in the builder image", () => {
  it("builds tinyconfig with KUnit, hands on hashed outputs, and warns of the options Kconfig dropped", async () => {
    const outDir = join(scratch, "kunit");
    expect(cold).toMatchObject({ status: "succeeded", outcome: "passed", exitCode: 0, diagnostics: { counts: { errors: 0 } } });
    expect(cold.files.map((f) => [f.role, f.path])).toEqual([
      ["config", "config"],
      ["kernel", "bzImage"],
      ["vmlinux", "vmlinux"],
      ["system-map", "System.map"],
      ["log", "build.log"],
    ]);
    for (const file of cold.files) expect(file.sha256).toBe(await fileSha256(join(outDir, file.path)));
    expect(await readFile(join(outDir, "config"), "utf8")).toMatch(/^CONFIG_KUNIT_EXAMPLE_TEST=y$/m);
    expect(cold.configWarnings.map((w) => w.message)).toEqual([
      "CONFIG_KUNIT_EXMAPLE_TEST=y was asked for (config[9]) but the final .config does not have it: a dependency is unmet or the name is misspelt",
      "CONFIG_EXT4_FS=y was asked for (config[10]) but the final .config does not have it: a dependency is unmet or the name is misspelt",
    ]);
    const manifest = JSON.parse(await readFile(join(outDir, "manifest.json"), "utf8")) as BuildResult;
    expect(manifest).toMatchObject({ build: "x86_64-kunit", outcome: "passed", files: cold.files, durationMs: cold.durationMs });
    expect(manifest.ccache).toEqual(cold.ccache);
    expect(await readFile(join(outDir, "build.log"), "utf8")).toMatch(/Kernel: arch\/x86\/boot\/bzImage is ready/);
  });

  it("boots the bzImage it built with the QEMU executor and reads KUnit's example suite from the console", async () => {
    const workspace = join(scratch, "kunit");
    // KUnit runs before init: the initramfs only has to exist, and kunit_shutdown ends the boot after the tests.
    await writeFile(join(workspace, "initramfs.cpio"), writeCpio([{ kind: "dir", path: "dev" }]));
    const result = await runJob(
      qemuJob({
        id: "kunit-boot",
        kernel: "bzImage",
        initramfs: "initramfs.cpio",
        command: undefined,
        append: "kunit_shutdown=reboot",
        results: "ktap",
        memoryBytes: 128 * 1024 ** 2,
        timeoutMs: 300_000,
        idleTimeoutMs: 120_000,
      }),
      { factory: new ExecutorFactory(), workspace, jobDir: join(scratch, "boot") },
    );
    expect(await readFile(join(scratch, "boot", "console.log"), "utf8")).toMatch(/# Subtest: example/);
    expect(result).toMatchObject({ status: "succeeded", outcome: "passed" });
    const suite = result.results!.tests.find((t) => t.name === "example");
    expect(suite?.children.find((t) => t.name === "example_simple_test")?.status).toBe("passed");
    expect(suite?.children.find((t) => t.name === "example_skip_test")?.status).toBe("skipped");
  }, 360_000);

  it("boots the kernel it built alone, as a job naming the build: no initramfs, KUnit's KTAP read from the console", async () => {
    const workspace = join(scratch, "alone-workspace");
    await mkdir(workspace, { recursive: true });
    const result = await runJob(
      qemuJob({
        id: "kunit-alone",
        kernel: "bzImage",
        build: "x86_64-kunit",
        command: undefined,
        append: "kunit_shutdown=reboot",
        results: "ktap",
        memoryBytes: 128 * 1024 ** 2,
        timeoutMs: 300_000,
        idleTimeoutMs: 120_000,
      }),
      { factory: new ExecutorFactory(), workspace, jobDir: join(scratch, "alone"), build: { dir: join(scratch, "kunit"), files: cold.files } },
    );
    const consoleText = await readFile(join(scratch, "alone", "console.log"), "utf8");
    expect(consoleText).toMatch(/# Subtest: example/);
    // Nothing but the kernel ran: it ended itself after the tests, before looking for a root or an init.
    expect(consoleText).not.toMatch(/Run \S+ as init process|VFS: Unable to mount root/);
    expect(result).toMatchObject({ status: "succeeded", outcome: "passed" });
    const suite = result.results!.tests.find((t) => t.name === "example");
    expect(suite?.children.find((t) => t.name === "example_simple_test")?.status).toBe("passed");
  }, 360_000);

  it(
    "fails a tree with a planted compile error at its file and line, as the code's fault, from a warm cache",
    async () => {
      const overlay = await overlayTree(tree, join(scratch, "broken-tree"));
      const example = "lib/kunit/kunit-example-test.c";
      const original = await readFile(join(overlay, example), "utf8");
      const includeLine = original.split("\n").length;
      await writeFile(join(overlay, "lib/kunit/kto_planted.h"), "static inline int kto_header_broken(void)\n{\n\treturn kto_missing_in_header;\n}\n");
      await replaceFile(overlay, example, `${original}#include "kto_planted.h"\nint kto_planted(void)\n{\n\tint kto_unused;\n\treturn kto_undeclared;\n}\n`);
      expect(await readFile(join(tree, example), "utf8")).toBe(original);

      const broken = await buildKernel({ spec, tree: overlay, outDir: join(scratch, "broken"), ccacheDir });
      expect(broken).toMatchObject({ status: "failed", outcome: "failed" });
      expect(broken.exitCode).not.toBe(0);
      expect(broken.reason).toBe(
        "the build failed (exit 2): 3 errors; the first: lib/kunit/kto_planted.h:3: ‘kto_missing_in_header’ undeclared (first use in this function)",
      );
      const byMessage = (text: string) => broken.diagnostics.annotations.find((a) => a.message.includes(text));
      expect(byMessage("kto_missing_in_header")).toMatchObject({
        severity: "error",
        tool: "compiler",
        place: { path: "lib/kunit/kto_planted.h", line: 3, column: 16, inTree: true },
        function: "kto_header_broken",
        includedFrom: [{ path: example, line: includeLine, inTree: true }],
        notes: ["lib/kunit/kto_planted.h:3: each undeclared identifier is reported only once for each function it appears in"],
      });
      expect(byMessage("kto_undeclared")).toMatchObject({
        severity: "error",
        place: { path: example, line: includeLine + 4, column: 16, inTree: true },
        function: "kto_planted",
        includedFrom: [],
      });
      expect(byMessage("unused variable ‘kto_unused’")).toMatchObject({
        severity: "warning",
        flag: "-Wunused-variable",
        place: { path: example, line: includeLine + 3, column: 13 },
      });
      // The rest of the kernel came from the cache the first build filled.
      expect(broken.ccache?.hitRate).toBeGreaterThan(0);
      expect(broken.files.map((f) => f.path)).toEqual(["build.log"]);
    },
    BUILD_TIMEOUT_MS,
  );

  it("refuses a fragment that a symlink takes out of the tree, before anything runs", async () => {
    const overlay = join(scratch, "broken-tree");
    await symlink("/etc/hostname", join(overlay, "kernel/configs/escape.config"));
    const escaped = kernelBuildSpec(buildSchema.parse({ ...KUNIT_BUILD, config: ["tinyconfig", "kernel/configs/escape.config"] }));
    const result = await buildKernel({ spec: escaped, tree: overlay, outDir: join(scratch, "escape"), ccacheDir });
    expect(result).toMatchObject({ status: "errored", outcome: "config_error", exitCode: null, log: { bytes: 0 } });
    expect(result.reason).toBe("config[1]: kernel/configs/escape.config: resolves to /etc/hostname, outside the kernel tree");
  });

  it("does not start on a disk with less room than a build needs, as the host's fault", async () => {
    const outDir = join(scratch, "no-room");
    const result = await buildKernel({ spec, tree, outDir, ccacheDir, minFreeBytes: 2 ** 60 });
    expect(result).toMatchObject({ status: "errored", outcome: "infrastructure", exitCode: null });
    expect(result.reason).toMatch(new RegExp(`^not enough disk space to build: ${outDir} has [\\d.]+ [KMGT]?i?B free$`));
  });

  it("kills a build at its timeout and leaves no container behind", async () => {
    const hurried = { ...spec, name: "hurried", timeoutMs: 3000 };
    const result = await buildKernel({ spec: hurried, tree, outDir: join(scratch, "hurried"), ccacheDir });
    expect(result).toMatchObject({ status: "timed_out", outcome: "timed_out", exitCode: null, reason: "the build ran past its timeout (3.0s) and was killed" });
    const left = await docker.listContainers({ all: true, filters: { label: [`${JOB_LABEL}=build:hurried`] } });
    expect(left).toEqual([]);
  });
});
