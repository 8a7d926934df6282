import { describe, expect, it } from "@jest/globals";
import { dockerCreateOptions } from "../../src/runners/docker-options.js";
import type { DockerJob } from "../../src/config/job-spec.js";
import type { HostPolicy } from "../../src/config/host-policy.js";
import { PrivilegeRefusedError } from "../../src/runners/errors.js";
import { grantPrivileges } from "../../src/runners/privilege-grant.js";
import { GRANTS_EVERYTHING, hostPolicy, job } from "../helpers/job.js";

const optionsFor = (overrides: Partial<DockerJob>, policy: HostPolicy = GRANTS_EVERYTHING) => {
  const spec = job(overrides);
  return dockerCreateOptions(spec, grantPrivileges(spec, policy), "c", { workspace: "/ws", resultsDir: "/out" }, "me");
};

/** The /tmp tmpfs options as a set: their order means nothing to Docker. */
function tmpOptions(overrides: Partial<DockerJob>): string[] {
  return (optionsFor(overrides).HostConfig?.Tmpfs?.["/tmp"] ?? "").split(",").sort();
}

describe("docker container options for a suite's opt-ins", () => {
  it("adds nothing back by default: nobody, no capabilities, no devices", () => {
    const options = optionsFor({});
    expect(options.User).toBe("65534:65534");
    expect(options.HostConfig).toMatchObject({ CapDrop: ["ALL"], CapAdd: [], Devices: [] });
    expect(options.HostConfig?.Privileged).toBeUndefined();
  });

  it("gives /tmp to the job's user, sticky and world-writable, and lets it run binaries", () => {
    expect(tmpOptions({})).toEqual(["exec", "gid=65534", "mode=1777", "nodev", "nosuid", "rw", "size=268435456", "uid=65534"]);
    expect(tmpOptions({ user: "1000:100" })).toEqual(expect.arrayContaining(["uid=1000", "gid=100"]));
  });

  it("runs as the suite's user with its capabilities and devices, keeping every other default", () => {
    const options = optionsFor({ user: "0:0", capabilities: ["NET_ADMIN", "SYS_ADMIN"], devices: ["/dev/net/tun"] });
    expect(options.User).toBe("0:0");
    expect(options.HostConfig).toMatchObject({
      CapDrop: ["ALL"],
      CapAdd: ["NET_ADMIN", "SYS_ADMIN"],
      Devices: [{ PathOnHost: "/dev/net/tun", PathInContainer: "/dev/net/tun", CgroupPermissions: "rw" }],
      SecurityOpt: ["no-new-privileges"],
      ReadonlyRootfs: true,
      NetworkMode: "none",
    });
    expect(options.HostConfig?.Privileged).toBeUndefined();
    expect(tmpOptions({ user: "0:0" })).toEqual(expect.arrayContaining(["uid=0", "gid=0"]));
  });

  it("runs a job under a host that grants nothing only as it would run by default", () => {
    expect(optionsFor({ user: "1000:100" }, hostPolicy()).User).toBe("1000:100");
    for (const asks of [{ user: "0:0" }, { network: true }, { devices: ["/dev/fuse" as const] }, { user: "0:0", capabilities: ["CHOWN" as const] }]) {
      expect(() => optionsFor(asks, hostPolicy())).toThrow(PrivilegeRefusedError);
    }
  });
});
