import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { execa } from "execa";
import { loadHostPolicy, RUNNER_DEFAULT } from "../../src/config/host-policy.js";
import type { DockerJob } from "../../src/config/job-spec.js";
import { JOB_LABEL } from "../../src/runners/docker-options.js";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { job, withTempDir } from "../helpers/job.js";

/**
 * A job's privileges are its runner host's owner's to grant, whatever its config asks:
 * played with real Docker on a runner whose policy file is written here (or absent).
 */

const docker = new Docker();

// What the reported escape asked for: root, and open_by_handle_at through DAC_READ_SEARCH.
const ESCAPE: Partial<DockerJob> = { user: "0:0", capabilities: ["DAC_READ_SEARCH"], command: "grep CapEff /proc/self/status" };
const GRANTS_CONTAINED = "version: 1\nprivileges:\n  user: root\n  capabilities: [contained]\n";

/** Runs a job on a runner host whose policy file holds `policy` (no file when null): its result, output and container events. */
async function runUnder(policy: string | null, overrides: Partial<DockerJob>) {
  return withTempDir(async (dir) => {
    const file = join(dir, "policy.yml");
    if (policy !== null) await writeFile(file, policy);
    const runner = new DockerExecutor({ docker, policy: () => loadHostPolicy(file, RUNNER_DEFAULT) });
    const spec = job({ ...overrides, id: `policy-${randomBytes(4).toString("hex")}` });
    const since = Math.floor(Date.now() / 1000) - 1;
    const jobDir = join(dir, "job");
    const result = await runJob(spec, { factory: new ExecutorFactory({ docker: runner }), workspace: dir, jobDir });
    // Every container event of this job, from before it was handed over until after it ended.
    const until = Math.floor(Date.now() / 1000) + 1;
    const events = await execa("docker", [
      "events",
      ...["--since", String(since), "--until", String(until)],
      ...["--filter", "type=container", "--filter", `label=${JOB_LABEL}=${spec.id}`, "--format", "{{.Action}}"],
    ]);
    const stdout = await readFile(join(jobDir, result.logs.stdout), "utf8");
    return { file, result, stdout, events: events.stdout.split("\n").filter(Boolean) };
  });
}

describe("privileges on a runner host", () => {
  it("refuses the reported escape (root with DAC_READ_SEARCH) on a host without a policy: config_error naming each field and the file, and no container", async () => {
    const { file, result, events } = await runUnder(null, ESCAPE);
    expect(result).toMatchObject({ status: "errored", outcome: "config_error", exitCode: null });
    expect(result.reason).toContain(`user: root is not allowed by this host's default (no policy file at ${file})`);
    expect(result.reason).toContain("capabilities[0]: DAC_READ_SEARCH is not granted by");
    expect(result.reason).toContain(`a host's owner grants privileges in ${file}`);
    expect(events).toEqual([]);
  });

  it("refuses before pulling: an image no registry has is never asked for", async () => {
    const { result, events } = await runUnder(null, { ...ESCAPE, image: "127.0.0.1:5000/kto/never-pulled:1" });
    expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(result.reason).not.toContain("cannot pull");
    expect(events).toEqual([]);
  });

  it("runs a root job with a capability that stays inside the container once the policy grants `contained`, and not before", async () => {
    const chown: Partial<DockerJob> = { user: "0:0", capabilities: ["CHOWN"], command: "touch /tmp/f && chown 1:1 /tmp/f && stat -c %u /tmp/f" };
    const granted = await runUnder(GRANTS_CONTAINED, chown);
    expect(granted.result).toMatchObject({ status: "succeeded", exitCode: 0 });
    expect(granted.stdout).toBe("1\n");
    const refused = await runUnder(null, chown);
    expect(refused.result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(refused.result.reason).toContain("capabilities[0]: CHOWN is not granted by this host's default");
    expect(refused.events).toEqual([]);
  });

  it("refuses a capability that reaches past the container under `contained`, and runs it only once the policy names it", async () => {
    const contained = await runUnder(GRANTS_CONTAINED, ESCAPE);
    expect(contained.result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(contained.result.reason).toContain(`capabilities[0]: DAC_READ_SEARCH is not granted by this host's policy (${contained.file}): open_by_handle_at`);
    expect(contained.result.reason).toContain("so only naming it grants it (contained does not)");
    expect(contained.result.reason).not.toContain("user:");
    expect(contained.events).toEqual([]);

    const named = await runUnder(GRANTS_CONTAINED.replace("[contained]", "[contained, dac_read_search]"), ESCAPE);
    expect(named.result).toMatchObject({ status: "succeeded", exitCode: 0 });
    // CAP_DAC_READ_SEARCH is bit 2, and the job has nothing else.
    expect(named.stdout).toBe("CapEff:\t0000000000000004\n");
  });

  it.each<[string, Partial<DockerJob>, string, string, string]>([
    ["a network", { network: true, command: "ls /sys/class/net" }, "network: true", "network: a network is not allowed", "eth0"],
    [
      "a device",
      { user: "0:0", devices: ["/dev/net/tun"], command: "exec 3<>/dev/net/tun && echo opened" },
      "user: root\n  devices: [/dev/net/tun]",
      "devices[0]: /dev/net/tun is not granted",
      "opened",
    ],
  ])("gives %s only when the policy grants it", async (_, asks, grant, refusal, seen) => {
    const refused = await runUnder(null, asks);
    expect(refused.result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(refused.result.reason).toContain(refusal);
    expect(refused.events).toEqual([]);
    const granted = await runUnder(`version: 1\nprivileges:\n  ${grant}\n`, asks);
    expect(granted.result).toMatchObject({ status: "succeeded", exitCode: 0 });
    expect(granted.stdout).toContain(seen);
  });

  it("stops every docker job on a host whose policy file is invalid, as the host's fault naming the file, line and field", async () => {
    const { file, result, events } = await runUnder("version: 1\nprivileges:\n  capabilities: [NET_ADMIN, CAP_FLY]\n", {});
    expect(result).toMatchObject({ status: "errored", outcome: "infrastructure" });
    expect(result.reason).toContain(
      `this host's privilege policy is invalid, so it runs no docker job: ${file}:3:29: privileges.capabilities[1]: expected a Linux capability`,
    );
    expect(events).toEqual([]);
  });
});
