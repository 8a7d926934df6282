import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { CAPABILITY_REACH, CONTAINED_CAPABILITIES } from "../../src/config/capability-reach.js";
import { ConfigError } from "../../src/config/errors.js";
import { HOST_POLICY_PATH, hostPolicyPath, loadHostPolicy, LOCAL_DEFAULT, parseHostPolicy, RUNNER_DEFAULT } from "../../src/config/host-policy.js";
import { buildPlan, narrowToBase, parseConfig } from "../../src/config/index.js";
import { NO_PRIVILEGES } from "../../src/config/privileges.js";
import { withTempDir } from "../helpers/job.js";

function issuesOf(text: string, file = "/etc/kto/policy.yml"): string[] {
  try {
    parseHostPolicy(text, file);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split("\n");
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("a host's policy file", () => {
  it("grants what it lists, `contained` standing for every capability that stays inside the container", () => {
    const policy = parseHostPolicy(
      "version: 1\nprivileges:\n  user: root\n  network: true\n  devices: [/dev/fuse]\n  capabilities: [contained, cap_sys_admin, SYS_ADMIN]\n",
      "policy.yml",
    );
    expect(policy.privileges).toEqual({ user: "root", network: true, devices: ["/dev/fuse"], capabilities: [...CONTAINED_CAPABILITIES, "SYS_ADMIN"] });
  });

  it("grants nothing it leaves out", () => {
    expect(parseHostPolicy("version: 1\n", "policy.yml").privileges).toEqual(NO_PRIVILEGES);
    expect(parseHostPolicy("version: 1\nprivileges: {}\n", "policy.yml").privileges).toEqual(NO_PRIVILEGES);
  });

  it("names the file, line and field of each problem", () => {
    const text = `version: 1
privileges:
  user: admin
  capabilities: [NET_ADMIN, CAP_FLY, 7]
  devices: [/dev/sda]
  network: yes
  everything: true
`;
    expect(issuesOf(text)).toEqual([
      '/etc/kto/policy.yml:3:9: privileges.user: expected one of "non-root", "root", got "admin"',
      "/etc/kto/policy.yml:4:29: privileges.capabilities[1]: expected a Linux capability such as NET_ADMIN, or contained for every one that stays inside the container",
      "/etc/kto/policy.yml:4:38: privileges.capabilities[2]: expected string, got number",
      '/etc/kto/policy.yml:5:13: privileges.devices[0]: expected one of "/dev/net/tun", "/dev/fuse", got "/dev/sda"',
      "/etc/kto/policy.yml:6:12: privileges.network: expected boolean, got string",
      '/etc/kto/policy.yml:3:3: privileges: unknown field "everything"',
    ]);
    expect(issuesOf("privileges: { user: root }\n")).toEqual(["/etc/kto/policy.yml:1:1: version: expected version: 1"]);
    expect(issuesOf("version: 1\nprivileges:\n  capabilities: [*]\n")[0]).toMatch(/^\/etc\/kto\/policy\.yml:3:18: privileges\.capabilities\[0\]: /);
  });

  it("is looked for where KTO_HOST_POLICY says, else in /etc/kto; an absent file gives the kind of host's default, an unreadable one an error", async () => {
    expect(hostPolicyPath({})).toBe(HOST_POLICY_PATH);
    expect(hostPolicyPath({ KTO_HOST_POLICY: "/srv/policy.yml" })).toBe("/srv/policy.yml");
    await withTempDir(async (dir) => {
      const absent = join(dir, "absent.yml");
      expect(await loadHostPolicy(absent, RUNNER_DEFAULT)).toEqual({ file: absent, present: false, privileges: NO_PRIVILEGES });
      expect((await loadHostPolicy(absent, LOCAL_DEFAULT)).privileges).toBe(LOCAL_DEFAULT);
      const folder = join(dir, "folder.yml");
      await mkdir(folder);
      await expect(loadHostPolicy(folder, RUNNER_DEFAULT)).rejects.toThrow(new RegExp(`^${folder}:1:1: cannot read: `));
      const present = join(dir, "policy.yml");
      await writeFile(present, "version: 1\nprivileges: { network: true }\n");
      expect(await loadHostPolicy(present, LOCAL_DEFAULT)).toEqual({ file: present, present: true, privileges: { ...NO_PRIVILEGES, network: true } });
    });
  });
});

describe("which capabilities reach past the container", () => {
  it("counts those of the reported escape and its kin among them, and `contained` grants none of them", () => {
    const boundary = ["SYS_ADMIN", "SYS_MODULE", "DAC_READ_SEARCH", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "NET_ADMIN", "BPF", "PERFMON"] as const;
    const plantOnHost = ["MKNOD", "SETFCAP", "LINUX_IMMUTABLE"] as const;
    const hostWide = ["SYS_TIME", "MAC_ADMIN", "MAC_OVERRIDE", "AUDIT_CONTROL", "SYSLOG"] as const;
    for (const capability of [...boundary, ...plantOnHost, ...hostWide]) {
      expect(CAPABILITY_REACH[capability]).toMatch(/\S/);
      expect(CONTAINED_CAPABILITIES).not.toContain(capability);
    }
    // Docker's own defaults that act only on what the job owns.
    expect(CONTAINED_CAPABILITIES).toEqual(expect.arrayContaining(["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "SYS_CHROOT"]));
  });
});

describe("a base branch's privileges, narrowing a head's suites", () => {
  const HEAD = `version: 1
suites:
  - { name: plain, runner: docker, image: i, command: x }
  - name: rooted
    runner: docker
    image: i
    command: x
    user: root
    capabilities: [CHOWN, NET_ADMIN]
    matrix: { v: [1, 2] }
  - { name: netted, runner: docker, image: i, command: x, network: true }
  - { name: guest, runner: qemu, kernel: k, command: x }
`;
  const head = parseConfig(HEAD);
  const specs = buildPlan(head).jobs;
  const base = (text: string) => parseConfig(`version: 1\nsuites: [{ name: s, runner: docker, image: i, command: x }]\n${text}`).config.privileges;

  it("changes nothing when the base says nothing", () => {
    expect(base("")).toBeUndefined();
    expect(narrowToBase(head, specs, base(""))).toEqual({ allowed: specs, refused: [] });
  });

  it("drops every job of a suite that asks for more, with an issue at each field of the head's config that does", () => {
    const { allowed, refused } = narrowToBase(head, specs, base("privileges: { user: root, capabilities: [contained] }"));
    expect(allowed.map((spec) => spec.id)).toEqual(["plain", "guest"]);
    expect(refused.map((issue) => `${issue.line}:${issue.column}: ${issue.path}: ${issue.message}`)).toEqual([
      "9:27: suites[1].capabilities[1]: NET_ADMIN is not granted by privileges in the base branch's .github/kto.yml: it opens netfilter (nf_tables), the kernel code most used for local root exploits (CVE-2022-1015, CVE-2024-1086), and on a bridged network it readdresses the container to impersonate other jobs, so only naming it grants it (contained does not)",
      "11:68: suites[2].network: a network is not allowed by privileges in the base branch's .github/kto.yml",
    ]);
    expect(narrowToBase(head, specs, base("privileges: {}")).refused.map((issue) => issue.path)).toEqual([
      "suites[1].user",
      "suites[1].capabilities[0]",
      "suites[1].capabilities[1]",
      "suites[2].network",
    ]);
  });
});
