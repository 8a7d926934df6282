import { describe, expect, it } from "@jest/globals";
import { buildListSchema, buildSchema, MAX_BUILD_CONFIG_ITEMS } from "../../src/config/build-schema.js";

/** Every issue of an entry as `path: message`. */
function issuesOf(entry: unknown): string[] {
  const result = buildSchema.safeParse(entry);
  if (result.success) throw new Error("expected the build to be rejected");
  return result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
}

const base = { name: "x86_64-kunit" };

describe("a builds: entry", () => {
  it("reads the documented example into a base target and ordered layers, with a suite's timeout and hardware", () => {
    const build = buildSchema.parse({
      ...base,
      arch: "arm64",
      toolchain: "clang",
      config: ["tinyconfig", "kernel/configs/kvm_guest.config", "CONFIG_KUNIT=y", 'CONFIG_CMDLINE="console=ttyS0 quiet"', "CONFIG_NR_CPUS=0x10"],
      targets: ["kernel", "modules", "kernel"],
      timeout: "45m",
      hardware: { cpus: 2, memory: "4G", labels: ["x86_64"] },
    });
    expect(build).toEqual({
      name: "x86_64-kunit",
      arch: "arm64",
      toolchain: "clang",
      config: {
        base: "tinyconfig",
        layers: [
          { kind: "fragment", path: "kernel/configs/kvm_guest.config" },
          { kind: "option", name: "CONFIG_KUNIT", value: "y" },
          { kind: "option", name: "CONFIG_CMDLINE", value: '"console=ttyS0 quiet"' },
          { kind: "option", name: "CONFIG_NR_CPUS", value: "0x10" },
        ],
      },
      targets: ["kernel", "modules"],
      timeout: 45 * 60_000,
      hardware: { cpus: 2, memory: 4 * 1024 ** 3, labels: ["x86_64"] },
    });
  });

  it("takes a matrix, priority and retries as a suite does", () => {
    expect(buildSchema.parse({ ...base, config: ["defconfig"], matrix: { cc: ["gcc", 1] }, priority: "urgent", retries: 2 })).toMatchObject({
      matrix: { cc: ["gcc", 1] },
      priority: 4,
      retries: 2,
    });
    expect(issuesOf({ ...base, config: ["defconfig"], matrix: { "a b": [1] }, priority: "soon", retries: 11 })).toEqual([
      "retries: Number must be less than or equal to 10",
      "priority: Invalid input",
      "matrix.a b: expected a matrix key of letters, digits, '_' and '-'",
    ]);
  });

  it("defaults to an x86_64 gcc build of the kernel alone", () => {
    expect(buildSchema.parse({ ...base, config: ["x86_64_defconfig"] })).toMatchObject({
      arch: "x86_64",
      toolchain: "gcc",
      targets: ["kernel"],
      hardware: { labels: [] },
    });
  });

  it("refuses option lines a shell or make would read more into, naming the item", () => {
    expect(issuesOf({ ...base, config: ["tinyconfig", "CONFIG_X=y O=/"] })).toEqual([
      'config.1: expected CONFIG_NAME=value with value y, m, n, a number or a "quoted string" (no $, ` or \\), got "CONFIG_X=y O=/"',
    ]);
    for (const item of ['CONFIG_CMDLINE="$(shell id)"', "CONFIG_X=yes", 'CONFIG_X="a`id`"', "CONFIG_X=", "CONFIG_X", "O=/tmp", 'CONFIG_X="a"b"']) {
      expect(issuesOf({ ...base, config: ["defconfig", item] })).toEqual([expect.stringMatching(/^config\.1: expected CONFIG_NAME=value/)]);
    }
    expect(issuesOf({ ...base, config: ["defconfig", "$(shell id)"] })).toEqual([expect.stringMatching(/^config\.1: expected a fragment file of the tree/)]);
  });

  it("refuses fragment paths that leave the tree or could be read as options", () => {
    expect(issuesOf({ ...base, config: ["defconfig", "/etc/passwd", "../x.config", "kernel/../../x", "-f.config"] })).toEqual([
      'config.1: a fragment path is relative to the kernel tree, got the absolute path "/etc/passwd"',
      'config.2: a fragment path may not leave the kernel tree (..), got "../x.config"',
      'config.3: a fragment path may not leave the kernel tree (..), got "kernel/../../x"',
      'config.4: expected a fragment file of the tree (letters, digits, ., _, +, - and /) or CONFIG_NAME=value, got "-f.config"',
    ]);
  });

  it("needs a base target first", () => {
    expect(issuesOf({ ...base, config: ["CONFIG_KUNIT=y"] })).toEqual([
      'config.0: expected a base config target first (tinyconfig, defconfig, allnoconfig, allyesconfig, allmodconfig, alldefconfig or <name>_defconfig), got "CONFIG_KUNIT=y"',
    ]);
    expect(issuesOf({ ...base, config: [] })).toEqual(["config: expected a base config target first, such as tinyconfig or defconfig"]);
  });

  it("bounds how many options one build may ask for", () => {
    const options = Array.from({ length: MAX_BUILD_CONFIG_ITEMS }, (_, i) => `CONFIG_OPTION_${i}=y`);
    expect(buildSchema.parse({ ...base, config: ["tinyconfig", ...options] }).config.layers).toHaveLength(MAX_BUILD_CONFIG_ITEMS);
    expect(issuesOf({ ...base, config: ["tinyconfig", ...options, "CONFIG_ONE_MORE=y"] })).toEqual([
      `config: at most ${MAX_BUILD_CONFIG_ITEMS} fragments and options after the base target`,
    ]);
  });

  it("names unknown fields, bad targets and toolchains, and duplicate names in a list", () => {
    expect(issuesOf({ ...base, config: ["defconfig"], toolchain: "icc", targets: ["vmlinux"], runner: "qemu" })).toEqual([
      "toolchain: Invalid enum value. Expected 'gcc' | 'clang', received 'icc'",
      "targets.0: Invalid enum value. Expected 'kernel' | 'modules' | 'kselftest', received 'vmlinux'",
      ": Unrecognized key(s) in object: 'runner'",
    ]);
    const list = buildListSchema.safeParse([
      { ...base, config: ["defconfig"] },
      { ...base, config: ["tinyconfig"] },
    ]);
    expect(list.success ? [] : list.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toEqual([
      "1.name: duplicate build name (first at builds[0])",
    ]);
  });
});
