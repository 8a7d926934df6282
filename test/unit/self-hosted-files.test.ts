import { access, constants, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "@jest/globals";
import { execa } from "execa";
import { parse } from "yaml";
import { parseHostPolicy } from "../../src/config/host-policy.js";
import { NO_PRIVILEGES } from "../../src/config/privileges.js";
import { withTempDir } from "../helpers/job.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const read = (path: string) => readFile(`${ROOT}${path}`, "utf8");

describe("the runner host files in self-hosted/", () => {
  it("the shell scripts parse and are executable", async () => {
    for (const script of ["self-hosted/provision.sh", "self-hosted/kto-runner-host.sh", "self-hosted/job-completed.sh"]) {
      await execa("bash", ["-n", `${ROOT}${script}`]);
      if (script !== "self-hosted/provision.sh") await access(`${ROOT}${script}`, constants.X_OK);
    }
  });

  it("the policy file provision.sh installs grants jobs nothing, and provision.sh keeps one the owner has", async () => {
    expect(parseHostPolicy(await read("self-hosted/policy.yml"), "self-hosted/policy.yml").privileges).toEqual(NO_PRIVILEGES);
    // provision.sh's own lines for it, run as provision.sh runs them, into a directory of the test's.
    const provision = await read("self-hosted/provision.sh");
    const block = /^POLICY_FILE=.*?^fi$/ms.exec(provision)![0];
    await withTempDir(async (dir) => {
      const file = join(dir, "etc", "kto", "policy.yml");
      const install = () => execa("bash", ["-c", `say() { :; }\n${block}`, `${ROOT}self-hosted/provision.sh`], { env: { KTO_HOST_POLICY: file } });
      await install();
      expect(await readFile(file, "utf8")).toBe(await read("self-hosted/policy.yml"));
      await writeFile(file, "version: 1\nprivileges: { network: true }\n");
      await install();
      expect(await readFile(file, "utf8")).toBe("version: 1\nprivileges: { network: true }\n");
    });
  });

  it("the service unit starts kto-runner-host.sh per instance and restarts it after every job", async () => {
    const unit = await read("self-hosted/kto-runner@.service");
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(unit)?.[1];
    expect(value("ExecStart")).toBe("/opt/kto/self-hosted/kto-runner-host.sh %i");
    expect(value("Restart")).toBe("always");
    expect(value("EnvironmentFile")).toBe("/etc/kto/runner.env");
    expect(value("SupplementaryGroups")?.split(" ")).toEqual(expect.arrayContaining(["docker", "kvm"]));
    // Each instance's copy of the runner, with its credentials, in a directory of its own for the runner user alone.
    expect(value("StateDirectory")).toBe("kto-runner/%i");
    expect(value("StateDirectoryMode")).toBe("0700");
  });

  it("the actions-runner-controller example keeps runners waiting, runs Docker in Docker and calls the job-completed hook", async () => {
    const values = parse(await read("self-hosted/arc/values.yaml")) as {
      runnerScaleSetName: string;
      minRunners: number;
      maxRunners: number;
      containerMode: { type: string };
      template: { spec: { containers: { name: string; env: { name: string; value: string }[] }[] } };
    };
    expect(values.runnerScaleSetName).toMatch(/^[a-z0-9-]+$/);
    // kto dispatches only to runners it sees online: a scale set at zero never gets a job.
    expect(values.minRunners).toBeGreaterThan(0);
    expect(values.maxRunners).toBeGreaterThanOrEqual(values.minRunners);
    expect(values.containerMode.type).toBe("dind");
    const hook = values.template.spec.containers.find((c) => c.name === "runner")!.env.find((e) => e.name === "ACTIONS_RUNNER_HOOK_JOB_COMPLETED")!;
    expect(hook.value.endsWith("/self-hosted/job-completed.sh")).toBe(true);
  });
});
