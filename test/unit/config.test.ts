import { describe, expect, it } from "@jest/globals";
import { buildPlan, ConfigError, parseConfig, parseDuration, parseSize } from "../../src/config/index.js";
import { jobSpecSchema } from "../../src/config/job-spec-schema.js";

function issuesOf(text: string): string[] {
  try {
    buildPlan(parseConfig(text, ".github/kto.yml"));
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

const VALID = `version: 1
defaults: { timeout: 10m }
suites:
  - name: kunit
    runner: qemu
    kernel: out/bzImage
    command: /usr/bin/run-kunit
    results: ktap
    hardware: { labels: [x86_64, kvm], memory: 2G, cpus: 2 }
  - name: selftests
    runner: docker
    image: registry.example/kselftest:bookworm
    command: make -C tools/testing/selftests run_tests
    matrix: { arch: [x86_64, arm64] }
    hardware: { labels: ["\${{ matrix.arch }}"] }
    timeout: 1h30m
    priority: high
`;

describe("config", () => {
  it("builds suites × matrix into jobs with matrix values substituted", () => {
    const plan = buildPlan(parseConfig(VALID));
    expect(plan.jobs.map((j) => j.id)).toEqual(["kunit", "selftests (arch=x86_64)", "selftests (arch=arm64)"]);
    const arm = plan.jobs[2]!;
    expect(arm.labels).toEqual(["arm64"]);
    expect(arm.timeoutMs).toBe(90 * 60_000);
    expect(arm.priority).toBe(3);
    expect(arm.slug).toBe("selftests-arch-arm64");
    const kunit = plan.jobs[0]!;
    expect(kunit.memoryBytes).toBe(2 * 1024 ** 3);
    expect(kunit.timeoutMs).toBe(10 * 60_000);
    // A qemu suite also needs a host that boots its architecture.
    expect(kunit.labels).toEqual(["kvm", "qemu-x86_64", "x86_64"]);
  });

  it("an arm64 qemu suite runs where arm64 guests boot; asking for the arm64 label asks for arm64 hardware", () => {
    const plan = buildPlan(
      parseConfig(`version: 1
suites:
  - { name: emulated, runner: qemu, arch: arm64, kernel: Image, command: "true" }
  - { name: native, runner: qemu, arch: arm64, kernel: Image, command: "true", hardware: { labels: [arm64, kvm] } }
`),
    );
    expect(plan.jobs.map((j) => [j.arch, j.labels])).toEqual([
      ["arm64", ["qemu-arm64"]],
      ["arm64", ["arm64", "kvm", "qemu-arm64"]],
    ]);
    expect(() => parseConfig(`version: 1\nsuites:\n  - { name: r, runner: qemu, arch: riscv64, kernel: Image, command: "true" }\n`)).toThrow(
      /:3:\d+: suites\[0\]\.arch: /,
    );
  });

  it("keeps labels in lower case, as GitHub matches them without regard to case: KVM asks for the kvm guard", () => {
    const plan = buildPlan(
      parseConfig(
        `version: 1\nsuites:\n  - { name: n, runner: qemu, arch: arm64, kernel: Image, command: "true", hardware: { labels: [ARM64, KVM, Lab-3] } }\n`,
      ),
    );
    expect(plan.jobs.map((j) => j.labels)).toEqual([["arm64", "kvm", "lab-3", "qemu-arm64"]]);
  });

  it("names file, line, column and field for a bad duration", () => {
    const text = VALID.replace("timeout: 1h30m", "timeout: soon");
    expect(issuesOf(text)).toEqual([".github/kto.yml:16:14: suites[1].timeout: expected a duration like 20m"]);
  });

  it("reports every problem at once, each at its own line", () => {
    const text = `version: 1
suites:
  - name: a
    runner: docker
    command: "true"
  - name: b
    runner: vm
    command: x
  - name: a
    runner: qemu
    kernel: k
    command: x
    colour: blue
`;
    const issues = issuesOf(text);
    expect(issues).toContain(".github/kto.yml:3:5: suites[0].image: a docker suite needs an image");
    expect(issues).toContain('.github/kto.yml:7:13: suites[1].runner: expected one of "docker", "qemu", got "vm"');
    expect(issues).toContain('.github/kto.yml:9:5: suites[2]: unknown field "colour"');
    expect(issues).toHaveLength(3);
  });

  it("rejects a duplicate suite name and a trigger naming no suite", () => {
    const text = `version: 1
suites:
  - { name: a, runner: docker, image: i, command: x }
  - { name: a, runner: docker, image: i, command: x }
triggers:
  pull_request: [a, nope]
`;
    const issues = issuesOf(text);
    expect(issues).toContain(".github/kto.yml:4:13: suites[1].name: duplicate suite name (first at suites[0])");
    expect(issues).toContain('.github/kto.yml:6:21: triggers.pull_request[1]: no suite named "nope"');
  });

  it("points at the string that uses an unknown matrix key", () => {
    const text = `version: 1
suites:
  - name: s
    runner: docker
    image: "img:\${{ matrix.distro }}"
    command: x
    matrix: { arch: [a] }
`;
    expect(issuesOf(text)).toEqual(['.github/kto.yml:5:12: suites[0].image: unknown matrix key "distro" in ${{ matrix.distro }} (matrix has: arch)']);
  });

  it("takes a matrix reference only from the matrix, never from what every object inherits", () => {
    const text = `version: 1
suites:
  - name: s
    runner: docker
    image: i
    command: "echo \${{ matrix.constructor }} \${{ matrix.toString }}"
    matrix: { arch: [a] }
`;
    expect(issuesOf(text)).toEqual([
      '.github/kto.yml:6:14: suites[0].command: unknown matrix key "constructor" in ${{ matrix.constructor }} (matrix has: arch)',
      '.github/kto.yml:6:14: suites[0].command: unknown matrix key "toString" in ${{ matrix.toString }} (matrix has: arch)',
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const issues = issuesOf("version: 1\nsuites:\n  - name: [unclosed\n");
    expect(issues[0]).toMatch(/^\.github\/kto\.yml:\d+:\d+: /);
  });

  it("requires version 1", () => {
    expect(issuesOf("version: 2\nsuites: []\n")).toEqual([
      ".github/kto.yml:1:10: version: expected version: 1",
      ".github/kto.yml:2:9: suites: expected at least one suite",
    ]);
  });

  it("parses durations and sizes", () => {
    expect(parseDuration("20m")).toBe(1_200_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("2d12h")).toBe(60 * 3_600_000);
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration("20 minutes")).toBeNull();
    expect(parseDuration("0s")).toBeNull();
    expect(parseSize("512M")).toBe(512 * 1024 ** 2);
    expect(parseSize("1.5GiB")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("lots")).toBeNull();
  });

  it("keeps a list command as argv and a string command as a shell line", () => {
    const plan = buildPlan(
      parseConfig(`version: 1
suites:
  - { name: a, runner: docker, image: i, command: [make, "-C", "dir with space"] }
  - { name: b, runner: docker, image: i, command: "make -C dir && echo ok" }
`),
    );
    expect(plan.jobs[0]).toMatchObject({ command: ["make", "-C", "dir with space"] });
    expect(plan.jobs[1]).toMatchObject({ command: "make -C dir && echo ok" });
  });

  it("selects suites by name and rejects unknown ones", () => {
    const loaded = parseConfig(VALID);
    expect(buildPlan(loaded, { suites: ["kunit"] }).jobs.map((j) => j.id)).toEqual(["kunit"]);
    expect(() => buildPlan(loaded, { suites: ["nope"] })).toThrow(/no suite named "nope" \(have: kunit, selftests\)/);
  });
});

describe("docker suite opt-ins", () => {
  const OPTED_IN = `version: 1
suites:
  - name: net
    runner: docker
    image: i
    command: x
    user: root
    capabilities: [net_admin, CAP_SYS_ADMIN, Net_Admin]
    devices: [/dev/net/tun]
  - { name: uid, runner: docker, image: i, command: x, user: 1000 }
  - { name: pair, runner: docker, image: i, command: x, user: "1000:100" }
  - { name: plain, runner: docker, image: i, command: x }
`;

  it("reads user, capabilities and devices, in Docker's spelling, and adds none by default", () => {
    const [net, uid, pair, plain] = buildPlan(parseConfig(OPTED_IN)).jobs.map((j) => (j.runner === "docker" ? j : null));
    expect(net).toMatchObject({ user: "0:0", capabilities: ["NET_ADMIN", "SYS_ADMIN"], devices: ["/dev/net/tun"] });
    expect(uid!.user).toBe("1000:1000");
    expect(pair!.user).toBe("1000:100");
    expect([plain!.user, plain!.capabilities, plain!.devices]).toEqual([undefined, undefined, undefined]);
  });

  it("keeps them through the App's JSON to the Action, which refuses forged ones", () => {
    for (const spec of buildPlan(parseConfig(OPTED_IN)).jobs) {
      expect(jobSpecSchema.parse(JSON.parse(JSON.stringify(spec)))).toEqual(spec);
    }
    const net = JSON.parse(JSON.stringify(buildPlan(parseConfig(OPTED_IN)).jobs[0])) as Record<string, unknown>;
    expect(jobSpecSchema.safeParse({ ...net, capabilities: ["ALL"] }).success).toBe(false);
    expect(jobSpecSchema.safeParse({ ...net, user: "root" }).success).toBe(false);
    expect(jobSpecSchema.safeParse({ ...net, devices: ["/dev/sda"] }).success).toBe(false);
    expect(jobSpecSchema.safeParse({ ...net, privileged: true }).success).toBe(false);
  });

  it("names the line of each bad value, down to the list item", () => {
    const text = `version: 1
suites:
  - name: a
    runner: docker
    image: i
    command: x
    user: bob
    capabilities: [NET_ADMIN, CAP_FLY]
    devices: [/dev/sda]
`;
    expect(issuesOf(text)).toEqual([
      ".github/kto.yml:7:11: suites[0].user: expected root, a uid or uid:gid (numbers)",
      ".github/kto.yml:8:31: suites[0].capabilities[1]: expected a Linux capability such as NET_ADMIN or CAP_SYS_ADMIN",
      '.github/kto.yml:9:15: suites[0].devices[0]: expected one of "/dev/net/tun", "/dev/fuse", got "/dev/sda"',
    ]);
  });

  it("never runs privileged, and says what to use instead", () => {
    const text = `version: 1
suites:
  - { name: a, runner: docker, image: i, command: x, privileged: false }
`;
    expect(issuesOf(text)).toEqual([
      ".github/kto.yml:3:66: suites[0].privileged: kto never runs privileged containers: list what the suite needs under capabilities (and devices) instead",
    ]);
  });

  it("refuses capabilities a non-root job could not use", () => {
    const text = `version: 1
suites:
  - { name: a, runner: docker, image: i, command: x, capabilities: [NET_ADMIN] }
  - { name: b, runner: docker, image: i, command: x, user: "1000", capabilities: [NET_ADMIN] }
  - { name: c, runner: docker, image: i, command: x, user: "0:1000", capabilities: [NET_ADMIN] }
`;
    expect(issuesOf(text)).toEqual([
      ".github/kto.yml:3:68: suites[0].capabilities: capabilities reach only a job running as root: add user: root",
      ".github/kto.yml:4:82: suites[1].capabilities: capabilities reach only a job running as root: add user: root",
    ]);
  });

  it("applies to docker suites only", () => {
    const text = `version: 1
suites:
  - name: q
    runner: qemu
    kernel: k
    command: x
    user: root
    capabilities: [NET_ADMIN]
    devices: [/dev/fuse]
`;
    expect(issuesOf(text)).toEqual([
      ".github/kto.yml:7:11: suites[0].user: user applies to docker suites only",
      ".github/kto.yml:8:19: suites[0].capabilities: capabilities applies to docker suites only",
      ".github/kto.yml:9:14: suites[0].devices: devices applies to docker suites only",
    ]);
  });
});
