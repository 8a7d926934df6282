import { describe, expect, it } from "@jest/globals";
import {
  buildNeeded,
  buildPlan,
  ConfigError,
  loadConfigFile,
  MAX_BUILD_CONFIG_ITEMS,
  parseConfig,
  type BuildJob,
  type JobSpec,
  type QemuJob,
} from "../../src/config/index.js";
import { jobSpecSchema } from "../../src/config/job-spec-schema.js";

function issuesOf(text: string, options: Parameters<typeof buildPlan>[1] = {}): string[] {
  try {
    buildPlan(parseConfig(text, ".github/kto.yml"), options);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

function qemu(job: JobSpec | undefined): QemuJob {
  if (job?.runner !== "qemu") throw new Error(`expected a qemu job, got ${JSON.stringify(job)}`);
  return job;
}

function build(job: JobSpec | undefined): BuildJob {
  if (job?.runner !== "build") throw new Error(`expected a build job, got ${JSON.stringify(job)}`);
  return job;
}

const KUNIT = `version: 1
defaults: { timeout: 10m, retries: 1, priority: high }
suites:
  - name: kunit
    runner: qemu
    build: x86_64-kunit
    results: ktap
  - name: smoke
    runner: docker
    image: i
    command: "true"
builds:
  - name: x86_64-kunit
    arch: x86_64
    config:
      - tinyconfig
      - kernel/configs/kvm_guest.config
      - CONFIG_KUNIT=y
    hardware: { cpus: 8, memory: 8G, labels: [big, builder] }
`;

describe("builds in the plan", () => {
  it("makes a build job first, and the suite boots its kernel", () => {
    const plan = buildPlan(parseConfig(KUNIT));
    expect(plan.jobs.map((j) => [j.id, j.runner])).toEqual([
      ["x86_64-kunit", "build"],
      ["kunit", "qemu"],
      ["smoke", "docker"],
    ]);
    expect(build(plan.jobs[0])).toEqual({
      id: "x86_64-kunit",
      slug: "x86_64-kunit",
      suite: "x86_64-kunit",
      runner: "build",
      matrix: {},
      env: {},
      results: "none",
      labels: ["big", "builder"],
      memoryBytes: 8 * 1024 ** 3,
      cpus: 8,
      // Not defaults.timeout, which is sized for tests.
      timeoutMs: 2 * 60 * 60_000,
      retries: 1,
      priority: 3,
      artifacts: [],
      network: false,
      arch: "x86_64",
      idleTimeoutMs: 2 * 60_000,
      toolchain: "gcc",
      config: {
        base: "tinyconfig",
        layers: [
          { kind: "fragment", path: "kernel/configs/kvm_guest.config" },
          { kind: "option", name: "CONFIG_KUNIT", value: "y" },
        ],
      },
      targets: ["kernel"],
      image: undefined,
    });
    const kunit = qemu(plan.jobs[1]);
    expect(kunit).toMatchObject({ build: "x86_64-kunit", kernel: "bzImage", append: "kunit_shutdown=reboot", labels: ["qemu-x86_64"] });
    expect(kunit.modules).toBeUndefined();
    expect(kunit.command).toBeUndefined();
    expect(kunit.initramfs).toBeUndefined();
  });

  it("takes a build's own timeout, retries and priority", () => {
    const text = KUNIT.replace("    hardware: { cpus: 8", "    timeout: 45m\n    retries: 0\n    priority: low\n    hardware: { cpus: 8");
    expect(build(buildPlan(parseConfig(text)).jobs[0])).toMatchObject({ timeoutMs: 45 * 60_000, retries: 0, priority: 1 });
  });

  it("boots arm64's Image, and the modules archive when the build makes modules", () => {
    const plan = buildPlan(
      parseConfig(`version: 1
suites:
  - { name: boot, runner: qemu, arch: arm64, build: arm, command: "true" }
  - { name: plain, runner: qemu, build: x86, initramfs: rootfs.cpio }
builds:
  - { name: arm, arch: arm64, toolchain: clang, config: [defconfig], targets: [kernel, modules] }
  - { name: x86, config: [defconfig] }
`),
    );
    expect(plan.jobs.map((j) => j.id)).toEqual(["arm", "x86", "boot", "plain"]);
    expect(build(plan.jobs[0])).toMatchObject({ arch: "arm64", toolchain: "clang", targets: ["kernel", "modules"] });
    expect(qemu(plan.jobs[2])).toMatchObject({ build: "arm", kernel: "Image", modules: "modules.tar.gz", command: "true" });
    // With a command or an initramfs the guest ends itself: the command line stays as written.
    expect(qemu(plan.jobs[2]).append).toBeUndefined();
    expect(qemu(plan.jobs[3])).toMatchObject({ build: "x86", kernel: "bzImage", initramfs: "rootfs.cpio" });
    expect(qemu(plan.jobs[3]).append).toBeUndefined();
  });

  it("adds kunit_shutdown=reboot to a kernel-alone suite's command line unless it sets kunit_shutdown", () => {
    const appendOf = (append: string) =>
      qemu(buildPlan(parseConfig(KUNIT.replace("    results: ktap\n", `    results: ktap\n    append: ${JSON.stringify(append)}\n`))).jobs[1]).append;
    expect(appendOf("console=ttyS0")).toBe("console=ttyS0 kunit_shutdown=reboot");
    expect(appendOf("console=ttyS0 kunit_shutdown=halt")).toBe("console=ttyS0 kunit_shutdown=halt");
    expect(appendOf("kunit_shutdown=poweroff")).toBe("kunit_shutdown=poweroff");
    expect(appendOf("")).toBe("kunit_shutdown=reboot");
    expect(appendOf("my_kunit_shutdown=x")).toBe("my_kunit_shutdown=x kunit_shutdown=reboot");
  });

  it("keeps a plan without builds as it was", () => {
    const plan = buildPlan(parseConfig(`version: 1\nsuites:\n  - { name: q, runner: qemu, kernel: k, command: x }\n`));
    expect(qemu(plan.jobs[0])).not.toHaveProperty("build");
    expect(parseConfig(`version: 1\nsuites:\n  - { name: q, runner: qemu, kernel: k, command: x }\n`).config.builds).toEqual([]);
  });

  it("passes its jobs through the App's JSON to the Action unchanged", () => {
    for (const spec of buildPlan(parseConfig(KUNIT)).jobs)
      expect(jobSpecSchema.parse(JSON.parse(JSON.stringify(spec)))).toEqual(JSON.parse(JSON.stringify(spec)));
  });

  it("refuses a forged build job in the Action: each recipe item by the config's rule, the toolchain and targets by value", () => {
    const spec = JSON.parse(JSON.stringify(buildPlan(parseConfig(KUNIT)).jobs[0])) as Record<string, unknown> & { config: { base: string; layers: unknown[] } };
    const refused = (change: Record<string, unknown>) => jobSpecSchema.safeParse({ ...spec, ...change }).success === false;
    const layers = (...extra: unknown[]) => ({ config: { ...spec.config, layers: [...spec.config.layers, ...extra] } });
    expect(refused({})).toBe(false);
    expect(refused(layers({ kind: "option", name: "CONFIG_X", value: "y O=/" }))).toBe(true);
    expect(refused(layers({ kind: "option", name: "CONFIG_X", value: '"$(shell id)"' }))).toBe(true);
    expect(refused(layers({ kind: "option", name: "X", value: "y" }))).toBe(true);
    expect(refused(layers({ kind: "option", name: "CONFIG_X=y CONFIG_Y", value: "y" }))).toBe(true);
    expect(refused(layers({ kind: "fragment", path: "../../etc/passwd" }))).toBe(true);
    expect(refused(layers({ kind: "fragment", path: "/etc/passwd" }))).toBe(true);
    expect(refused(layers({ kind: "fragment", path: "CONFIG_X=y" }))).toBe(true);
    expect(refused(layers({ kind: "fragment", path: "a.config", extra: 1 }))).toBe(true);
    expect(refused(layers({ kind: "make", path: "a.config" }))).toBe(true);
    expect(refused(layers({ kind: "fragment", path: "kernel/configs/debug.config" }, { kind: "option", name: "CONFIG_NR_CPUS", value: "0x10" }))).toBe(false);
    expect(refused({ config: { ...spec.config, base: "O=/ tinyconfig" } })).toBe(true);
    expect(refused({ config: { ...spec.config, base: "tinyconfig", extra: 1 } })).toBe(true);
    expect(refused({ toolchain: "icc" })).toBe(true);
    expect(refused({ targets: ["vmlinux"] })).toBe(true);
    expect(refused({ targets: [] })).toBe(true);
    expect(refused({ image: "" })).toBe(true);
    expect(refused({ command: "id" })).toBe(true);
    const suite = JSON.parse(JSON.stringify(buildPlan(parseConfig(KUNIT)).jobs[1])) as Record<string, unknown>;
    expect(jobSpecSchema.safeParse({ ...suite, build: "" }).success).toBe(false);
  });
});

const MATRIX = `version: 1
suites:
  - name: kunit
    runner: qemu
    build: kernel
    matrix: { cc: [gcc, clang], mem: [1G, 2G] }
    append: "mem=\${{ matrix.mem }}"
builds:
  - name: kernel
    config: [tinyconfig]
    image: "builder-\${{ matrix.cc }}:1"
    matrix: { cc: [gcc, clang] }
    hardware: { labels: ["cc-\${{ matrix.cc }}"] }
`;

describe("the example of a kernel tree's config", () => {
  it("builds the kernel and boots it alone for KUnit", async () => {
    const plan = buildPlan(await loadConfigFile("examples/kunit-build.yml"));
    expect(plan.jobs.map((job) => [job.id, job.runner, buildNeeded(job)])).toEqual([
      ["x86_64-kunit", "build", undefined],
      ["kunit", "qemu", "x86_64-kunit"],
    ]);
    expect(qemu(plan.jobs[1])).toMatchObject({ kernel: "bzImage", append: "console=ttyS0 kunit_shutdown=reboot", results: "ktap" });
  });
});

describe("a build with a matrix", () => {
  it("makes a build job per combination, substituted, and each suite job boots the one with its values", () => {
    const plan = buildPlan(parseConfig(MATRIX));
    expect(plan.jobs.map((j) => j.id)).toEqual([
      "kernel (cc=gcc)",
      "kernel (cc=clang)",
      "kunit (cc=gcc, mem=1G)",
      "kunit (cc=gcc, mem=2G)",
      "kunit (cc=clang, mem=1G)",
      "kunit (cc=clang, mem=2G)",
    ]);
    expect(plan.jobs.slice(0, 2).map((j) => [j.slug, build(j).image, j.labels])).toEqual([
      ["kernel-cc-gcc", "builder-gcc:1", ["cc-gcc"]],
      ["kernel-cc-clang", "builder-clang:1", ["cc-clang"]],
    ]);
    expect(plan.jobs.slice(2).map((j) => qemu(j).build)).toEqual(["kernel (cc=gcc)", "kernel (cc=gcc)", "kernel (cc=clang)", "kernel (cc=clang)"]);
  });

  it("needs the suite to have a value for every key of the build's matrix, and only values the build has", () => {
    expect(issuesOf(MATRIX.replace("matrix: { cc: [gcc, clang], mem: [1G, 2G] }", "matrix: { mem: [1G, 2G] }"))).toEqual([
      ".github/kto.yml:5:12: suites[0].build: build kernel has a matrix over cc; the suite needs a matrix value for cc to pick one of its builds",
    ]);
    expect(issuesOf(MATRIX.replace("matrix: { cc: [gcc, clang], mem", "matrix: { cc: [gcc, icc], mem"))).toEqual([
      '.github/kto.yml:6:25: suites[0].matrix.cc[1]: build kernel has no job with cc="icc" (its matrix has cc: "gcc", "clang")',
    ]);
  });

  it("names an unknown matrix key in a build's strings", () => {
    expect(issuesOf(MATRIX.replace('image: "builder-${{ matrix.cc }}:1"', 'image: "builder-${{ matrix.distro }}"'))).toEqual([
      '.github/kto.yml:11:12: builds[0].image: unknown matrix key "distro" in ${{ matrix.distro }} (matrix has: cc)',
    ]);
  });

  it("counts a build's jobs against the caps as a suite's", () => {
    expect(issuesOf(`${MATRIX}limits: { jobs_per_suite: 1 }\n`)[0]).toBe(
      ".github/kto.yml:12:13: builds[0].matrix: makes 2 jobs; at most 1 per suite (limits.jobs_per_suite)",
    );
    expect(issuesOf(`${MATRIX}limits: { jobs_per_plan: 5 }\n`)).toEqual([
      ".github/kto.yml:6:13: suites[0].matrix: brings the plan to 6 jobs; at most 5 per plan (limits.jobs_per_plan)",
    ]);
  });

  it("names a build job that another build's makes too", () => {
    const text = `version: 1
suites:
  - { name: s, runner: docker, image: i, command: x }
builds:
  - { name: k-cc-gcc, config: [tinyconfig] }
  - { name: k, config: [tinyconfig], matrix: { cc: [gcc] } }
`;
    expect(issuesOf(text)).toEqual([
      `.github/kto.yml:6:46: builds[1].matrix: (cc="gcc") makes the job slug "k-cc-gcc" that builds[0] makes (a slug keeps letters, digits, '.', '_' and '-'); make the values differ`,
    ]);
  });
});

const SELECTION = `version: 1
suites:
  - { name: a, runner: qemu, build: ka, matrix: { v: [x] } }
  - { name: b, runner: qemu, build: kb }
  - { name: c, runner: docker, image: i, command: x }
builds:
  - { name: ka, config: [tinyconfig], matrix: { v: [x, y] } }
  - { name: kb, config: [tinyconfig] }
  - { name: kc, config: [defconfig] }
`;

describe("selecting suites and builds", () => {
  it("plans every build with no selection", () => {
    expect(buildPlan(parseConfig(SELECTION)).jobs.map((j) => j.id)).toEqual(["ka (v=x)", "ka (v=y)", "kb", "kc", "a (v=x)", "b", "c"]);
  });

  it("brings in the build jobs the selected suites boot, and only those", () => {
    const loaded = parseConfig(SELECTION);
    expect(buildPlan(loaded, { suites: ["a"] }).jobs.map((j) => j.id)).toEqual(["ka (v=x)", "a (v=x)"]);
    expect(buildPlan(loaded, { suites: ["b", "c"] }).jobs.map((j) => j.id)).toEqual(["kb", "b", "c"]);
    expect(buildPlan(loaded, { suites: ["c"] }).jobs.map((j) => j.id)).toEqual(["c"]);
  });

  it("plans builds alone, every combination, for kto build; with suites, both", () => {
    const loaded = parseConfig(SELECTION);
    expect(buildPlan(loaded, { builds: ["ka", "kc"] }).jobs.map((j) => j.id)).toEqual(["ka (v=x)", "ka (v=y)", "kc"]);
    expect(buildPlan(loaded, { builds: ["kc"], suites: ["b"] }).jobs.map((j) => j.id)).toEqual(["kb", "kc", "b"]);
    expect(issuesOf(SELECTION, { builds: ["nope"] })).toEqual(['.github/kto.yml:1:1: no build named "nope" (have: ka, kb, kc)']);
  });
});

describe("build errors name file, line, column and field", () => {
  it("an unknown build, listing the builds there are", () => {
    expect(issuesOf(KUNIT.replace("build: x86_64-kunit", "build: x86-kunit"))).toEqual([
      '.github/kto.yml:6:12: suites[0].build: no build named "x86-kunit" (have: x86_64-kunit)',
    ]);
    expect(issuesOf(`version: 1\nsuites:\n  - { name: q, runner: qemu, build: k }\n`)).toEqual([
      '.github/kto.yml:3:37: suites[0].build: no build named "k" (the config has no builds:)',
    ]);
  });

  it("a build of another architecture than the suite's", () => {
    expect(issuesOf(KUNIT.replace("    arch: x86_64\n", "    arch: arm64\n"))).toEqual([
      ".github/kto.yml:6:12: suites[0].build: build x86_64-kunit (builds[0]) makes an arm64 kernel; the suite boots x86_64 (set the suite's arch: or name an x86_64 build)",
    ]);
  });

  it("kernel: or modules: beside build:", () => {
    expect(issuesOf(KUNIT.replace("    results: ktap\n", "    results: ktap\n    kernel: out/bzImage\n    modules: out/modules.tar.gz\n"))).toEqual([
      ".github/kto.yml:8:13: suites[0].kernel: the suite boots the kernel of build x86_64-kunit: remove kernel:",
      ".github/kto.yml:9:14: suites[0].modules: the suite boots the modules of build x86_64-kunit: remove modules: (add modules to the build's targets)",
    ]);
  });

  it("build: on a docker suite, and a qemu suite with neither build: nor kernel:", () => {
    expect(issuesOf(KUNIT.replace('    command: "true"\n', '    command: "true"\n    build: x86_64-kunit\n'))).toEqual([
      ".github/kto.yml:12:12: suites[1].build: build applies to qemu suites only",
    ]);
    expect(issuesOf(KUNIT.replace("    build: x86_64-kunit\n", ""))).toEqual([
      ".github/kto.yml:4:5: suites[0].kernel: a qemu suite needs a kernel",
      ".github/kto.yml:4:5: suites[0].command: a qemu suite needs a command (kto's guest mode) or its own initramfs",
    ]);
  });

  it("two builds with one name, and a build named like a suite", () => {
    const text = `${KUNIT}  - { name: x86_64-kunit, config: [defconfig] }\n  - { name: smoke, config: [defconfig] }\n`;
    expect(issuesOf(text)).toEqual([
      ".github/kto.yml:20:13: builds[1].name: duplicate build name (first at builds[0])",
      ".github/kto.yml:21:13: builds[2].name: suites[1] is named smoke too; a build and a suite are jobs of one plan and need names of their own",
    ]);
  });

  it("option lines that are not CONFIG_NAME=value, and make or shell smuggled in, at their item", () => {
    const text = KUNIT.replace(
      "      - CONFIG_KUNIT=y\n",
      '      - CONFIG_KUNIT=y\n      - CONFIG_X=y O=/\n      - "$(shell id)"\n      - CONFIG_CMDLINE="$(shell id)"\n      - KUNIT=y\n',
    );
    expect(issuesOf(text)).toEqual([
      '.github/kto.yml:19:9: builds[0].config[3]: expected CONFIG_NAME=value with value y, m, n, a number or a "quoted string" (no $, ` or \\), got "CONFIG_X=y O=/"',
      '.github/kto.yml:20:9: builds[0].config[4]: expected a fragment file of the tree (letters, digits, ., _, +, - and /) or CONFIG_NAME=value, got "$(shell id)"',
      '.github/kto.yml:21:9: builds[0].config[5]: expected CONFIG_NAME=value with value y, m, n, a number or a "quoted string" (no $, ` or \\), got "CONFIG_CMDLINE=\\"$(shell id)\\""',
      '.github/kto.yml:22:9: builds[0].config[6]: expected CONFIG_NAME=value with value y, m, n, a number or a "quoted string" (no $, ` or \\), got "KUNIT=y"',
    ]);
  });

  it("as many options as a job can carry, and no more than the schema's bound, each a clear error at the field", () => {
    const withOptions = (n: number) =>
      KUNIT.replace(
        "      - CONFIG_KUNIT=y\n",
        `      - CONFIG_KUNIT=y\n      - ${Array.from({ length: n }, (_, i) => `CONFIG_OPTION_${i}=y`).join("\n      - ")}\n`,
      );
    const [tooLarge, ...rest] = issuesOf(withOptions(5_000));
    expect(rest).toEqual([]);
    expect(tooLarge).toMatch(/^\.github\/kto\.yml:(\d+):9: builds\[0\]\.config\[(\d+)\]: takes the job past 60 KiB as JSON, the most a job may be/);
    const [, line, item] = /:(\d+):9: builds\[0\]\.config\[(\d+)\]/.exec(tooLarge!)!;
    // The item named is the one on the line named.
    expect(Number(line)).toBe(16 + Number(item));
    expect(issuesOf(withOptions(20_000))).toEqual([
      `.github/kto.yml:16:7: builds[0].config: at most ${MAX_BUILD_CONFIG_ITEMS} fragments and options after the base target`,
    ]);
  });

  it("a fragment that leaves the tree, at its item", () => {
    expect(issuesOf(KUNIT.replace("kernel/configs/kvm_guest.config", "../../etc/passwd"))).toEqual([
      '.github/kto.yml:17:9: builds[0].config[1]: a fragment path may not leave the kernel tree (..), got "../../etc/passwd"',
    ]);
  });
});
