import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIssue, parseConfig, treeProblems } from "../../src/config/index.js";
import { kernelBuildSpec } from "../../src/runners/build/build-spec.js";
import { stageConfigInputs } from "../../src/runners/build/config-inputs.js";

let root: string;
let tree: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "kto-tree-"));
  tree = join(root, "linux");
  await mkdir(join(tree, "kernel", "configs"), { recursive: true });
  await mkdir(join(tree, "arch", "x86", "configs"), { recursive: true });
  await writeFile(join(tree, "kernel", "configs", "kvm_guest.config"), "CONFIG_KVM_GUEST=y\n");
  await writeFile(join(tree, "arch", "x86", "configs", "x86_64_defconfig"), "CONFIG_64BIT=y\n");
  await writeFile(join(root, "secret.config"), "CONFIG_SECRET=y\n");
  await symlink(join(root, "secret.config"), join(tree, "kernel", "configs", "escape.config"));
  await symlink("kvm_guest.config", join(tree, "kernel", "configs", "alias.config"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const CONFIG = `version: 1
suites:
  - { name: s, runner: qemu, build: k }
builds:
  - name: k
    config:
      - x86_64_defconfig
      - kernel/configs/kvm_guest.config
      - kernel/configs/alias.config
      - CONFIG_KUNIT=y
      - kernel/configs/escape.config
      - kernel/configs/missing.config
      - kernel/configs
  - name: arm
    arch: arm64
    config: [virt_defconfig]
`;

describe("a build's fragments against the kernel tree", () => {
  it("names every fragment that is not a regular file inside the tree, and a defconfig the arch lacks, at its item", async () => {
    const issues = await treeProblems(parseConfig(CONFIG), tree);
    expect(issues.map(formatIssue)).toEqual([
      `.github/kto.yml:11:9: builds[0].config[4]: kernel/configs/escape.config: resolves to ${join(root, "secret.config")}, outside the kernel tree`,
      ".github/kto.yml:12:9: builds[0].config[5]: kernel/configs/missing.config: no such file in the kernel tree",
      ".github/kto.yml:13:9: builds[0].config[6]: kernel/configs: not a regular file",
      ".github/kto.yml:16:14: builds[1].config[0]: no arch/arm64/configs/virt_defconfig in the kernel tree for arm64",
    ]);
  });

  it("checks only the builds asked for", async () => {
    expect((await treeProblems(parseConfig(CONFIG), tree, ["arm"])).map((issue) => issue.path)).toEqual(["builds[1].config[0]"]);
    const good = CONFIG.replace(/ {6}- kernel\/configs\/escape\.config\n[^]*(?= {2}- name: arm)/, "");
    expect(await treeProblems(parseConfig(good), tree, ["k"])).toEqual([]);
  });

  it("is the rule the build applies when it stages the fragments", async () => {
    const build = parseConfig(CONFIG).config.builds[0]!;
    const objDir = join(root, "out");
    await expect(stageConfigInputs(kernelBuildSpec(build), tree, objDir)).rejects.toThrow(/config\[4\].*outside the kernel tree/);
    const fine = { ...build, config: { ...build.config, layers: build.config.layers.slice(0, 3) } };
    expect((await stageConfigInputs(kernelBuildSpec(fine), tree, objDir)).requested.map((option) => option.name)).toEqual([
      "CONFIG_KVM_GUEST",
      "CONFIG_KVM_GUEST",
      "CONFIG_KUNIT",
    ]);
  });
});
