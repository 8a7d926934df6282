import { execFile } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "@jest/globals";
import { chosenBuilds } from "../../src/cli/commands/build.js";
import { buildsExitCode, buildText, runBuildsHere } from "../../src/cli/local-builds-run.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { fakeKernelTree } from "../helpers/fake-kernel-tree.js";
import { buildJob, withTempDir } from "../helpers/job.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KTO = join(ROOT, "bin", "kto.js");

async function kto(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [KTO, ...args], { cwd: ROOT, env: { ...process.env, CI: "1" } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("kto build", () => {
  it("builds each build in the builder image, says what came of it, and exits 0, 1 or 2 by whose fault a build ended", () =>
    withTempDir(async (dir) => {
      const factory = new ExecutorFactory({ ccache: { dir: join(dir, "ccache"), maxSize: "1G" } });
      const out = join(dir, "builds");
      const run = async (tree: string, job = buildJob({ id: "x86_64-kunit", slug: "x86_64-kunit" })) =>
        (await runBuildsHere([job], { factory, tree, out }))[0]!;

      const built = await run(await fakeKernelTree(join(dir, "good")));
      expect(buildsExitCode([built])).toBe(0);
      expect(buildText(built.job, built.result, built.dir)).toMatch(
        new RegExp(
          `^kto: x86_64-kunit: passed in [\\d.]+m?s: built kernel for x86_64 with gcc\\n` +
            `  ccache: nothing compiled through it\\n  diagnostics: 0 errors, 0 warnings\\n` +
            `  outputs: ${out}/x86_64-kunit/build \\(config, bzImage, vmlinux, System.map, build.log\\)\\n$`,
        ),
      );

      const broken = await run(await fakeKernelTree(join(dir, "broken"), { broken: true }), buildJob({ slug: "broken" }));
      expect(buildsExitCode([built, broken])).toBe(1);
      expect(buildText(broken.job, broken.result, broken.dir)).toContain(
        "  diagnostics: 1 errors, 0 warnings\n    init/main.c:12:5: expected ';' before 'return'\n",
      );

      const imageless = await run(await fakeKernelTree(join(dir, "imageless"), { noImage: true }), buildJob({ slug: "imageless" }));
      expect(imageless.result).toMatchObject({ status: "failed", reason: "the build succeeded but made no arch/x86/boot/bzImage" });
      expect(buildsExitCode([imageless])).toBe(1);

      const missingFragment = await run(
        await fakeKernelTree(join(dir, "fragmentless")),
        buildJob({ slug: "fragmentless", config: { base: "tinyconfig", layers: [{ kind: "fragment", path: "kernel/configs/kvm_guest.config" }] } }),
      );
      expect(missingFragment.result).toMatchObject({
        outcome: "config_error",
        reason: "config[1]: kernel/configs/kvm_guest.config: no such file in the kernel tree",
      });
      expect(buildsExitCode([built, missingFragment])).toBe(2);
    }));

  it("takes builds by name, and refuses a name the config has not", () => {
    const builds = [buildJob({ id: "x86_64", suite: "x86_64" }), buildJob({ id: "arm64 (toolchain=clang)", suite: "arm64" })];
    expect(chosenBuilds(builds, [], "kto.yml")).toEqual(builds);
    expect(chosenBuilds(builds, ["arm64"], "kto.yml")).toEqual([builds[1]]);
    expect(() => chosenBuilds(builds, ["riscv"], "kto.yml")).toThrow("--build: kto.yml has no build riscv (it has x86_64, arm64)");
    expect(() => chosenBuilds([], [], "kto.yml")).toThrow("kto.yml has no builds: add a builds: list");
  });

  it("exits 2 on a config without builds", () =>
    withTempDir(async (dir) => {
      const config = join(dir, "kto.yml");
      await writeFile(config, "version: 1\nsuites:\n  - name: s\n    runner: docker\n    image: i\n    command: x\n");
      expect(await kto(["build", config, "--tree", dir])).toMatchObject({ code: 2, stderr: `kto: ${config} has no builds: add a builds: list\n` });
    }));
});

describe("kto build and kto run before anything runs", () => {
  it("refuse a fragment the tree has not, naming the config's file, line and field, and start no build", () =>
    withTempDir(async (dir) => {
      const tree = await fakeKernelTree(join(dir, "tree"));
      const config = join(dir, "kto.yml");
      await writeFile(
        config,
        [
          "version: 1",
          "builds:",
          "  - name: x86_64-kunit",
          "    arch: x86_64",
          "    config:",
          "      - tinyconfig",
          "      - kernel/configs/no-such.config",
          "suites:",
          "  - name: kunit",
          "    runner: qemu",
          "    build: x86_64-kunit",
          "    results: ktap",
          "",
        ].join("\n"),
      );
      const out = join(dir, "out");
      const expected = `${config}:7:9: builds[0].config[1]: kernel/configs/no-such.config: no such file in the kernel tree`;
      const build = await kto(["build", config, "--tree", tree, "--out", out]);
      expect(build).toMatchObject({ code: 2 });
      expect(build.stderr).toContain(expected);
      const run = await kto(["run", config, "--workspace", tree, "--out", out]);
      expect(run).toMatchObject({ code: 2 });
      expect(run.stderr).toContain(expected);
      await expect(stat(out)).rejects.toThrow("ENOENT");
    }));
});
