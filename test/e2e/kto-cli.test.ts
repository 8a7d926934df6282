import { execFile, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import type { RunReport } from "../../src/runners/report/run-report.js";
import { withTempDir } from "../helpers/job.js";
import { runningQemus } from "../helpers/processes.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KTO = join(ROOT, "bin", "kto.js");

const DATA_DIR = mkdtempSync(join(tmpdir(), "kto-e2e-data-"));
const ENV = { ...process.env, CI: "1", KTO_DATA_DIR: DATA_DIR };

async function kto(args: string[], cwd = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [KTO, ...args], { cwd, env: ENV });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("kto CLI end to end (built bin, real Docker and QEMU)", () => {
  it("runs the examples and leaves a results folder a person and a program can read", async () => {
    await withTempDir(async (dir) => {
      const out = join(dir, "results");
      const { code, stdout, stderr } = await kto(["run", "examples/kto.yml", "--jobs", "2", "--out", out]);
      expect(code).toBe(1); // each example suite has one failing case on purpose
      expect(stdout).toContain("kto: failed: 2 jobs, 3 tests passed, 2 failed");
      expect(stderr).toContain("kto: guest-ktap: failed in");

      const report = JSON.parse(await readFile(join(out, "results.json"), "utf8")) as RunReport;
      expect(report.schema).toBe("kto.results/v1");
      const byName = Object.fromEntries(report.jobs.map((j) => [j.name, j]));
      expect(byName["busybox-tap"]).toMatchObject({ status: "failed", exitCode: 0, tests: { passed: 2, failed: 1, total: 3 }, resultsFormat: "tap" });
      expect(byName["guest-ktap"]).toMatchObject({ status: "failed", exitCode: 0, tests: { passed: 1, failed: 1, total: 2 }, boot: { path: "fast" } });
      expect(byName["guest-ktap"]!.failures[0]).toMatchObject({ name: "kernel_release", location: { file: "examples/tests/guest.sh", line: 16 } });
      expect(byName["guest-ktap"]!.artifacts.map((a) => a.path)).toEqual(["console.log", "results/version.txt"]);
      for (const job of report.jobs) {
        for (const artifact of job.artifacts) expect((await readFile(join(out, job.dir, artifact.path))).length).toBe(artifact.size);
      }

      const junit = await readFile(join(out, "junit.xml"), "utf8");
      expect(junit).toContain('<testcase classname="guest-ktap" name="guest.kernel_release" file="examples/tests/guest.sh" line="16">');
      const summary = await readFile(join(out, "summary.md"), "utf8");
      expect(summary).toContain("| busybox-tap | ❌ failed | 2/3 passed, 1 failed |");
      expect(summary).toContain("- **guest › kernel_release** failed at `examples/tests/guest.sh:16`");
    });
  });

  it("a suite asking for what this host lacks ends at once as the config's fault, naming the field and why", async () => {
    await withTempDir(async (dir) => {
      const config = join(dir, "kvm.yml");
      await writeFile(
        config,
        `version: 1\nsuites:\n  - { name: needs-kvm, runner: qemu, kernel: /var/lib/kto/kernel/vmlinuz, command: "true", hardware: { labels: [kvm] } }\n`,
      );
      const { code } = await promisify(execFile)(process.execPath, [KTO, "run", config, "--out", join(dir, "out")], {
        cwd: ROOT,
        env: { ...ENV, KTO_NO_KVM: "1" },
      }).then(
        () => ({ code: 0 }),
        (error: { code: number }) => ({ code: error.code }),
      );
      expect(code).toBe(1);
      const report = JSON.parse(await readFile(join(dir, "out", "results.json"), "utf8")) as RunReport;
      expect(report.jobs[0]).toMatchObject({ status: "errored", outcome: "config_error" });
      expect(report.jobs[0]!.reason).toBe("hardware.labels: this host lacks kvm (x86_64: tcg, because kvm: KTO_NO_KVM is set)");
    });
  });

  it("on a developer's machine without a policy file, runs what stays inside the container and refuses what reaches past it; a policy file there decides instead", async () => {
    await withTempDir(async (dir) => {
      const config = join(dir, "kto.yml");
      await writeFile(
        config,
        `version: 1
suites:
  - { name: contained, runner: docker, image: kto/busybox:1, command: "touch /tmp/f && chown 1:1 /tmp/f", user: root, capabilities: [CHOWN], network: true }
  - { name: escape, runner: docker, image: kto/busybox:1, command: "true", user: root, capabilities: [DAC_READ_SEARCH] }
`,
      );
      const runUnder = async (policy: string) => {
        const out = join(dir, "out");
        await promisify(execFile)(process.execPath, [KTO, "run", config, "--out", out], { cwd: ROOT, env: { ...ENV, KTO_HOST_POLICY: policy } }).catch(
          () => undefined,
        );
        const report = JSON.parse(await readFile(join(out, "results.json"), "utf8")) as RunReport;
        return Object.fromEntries(report.jobs.map((job) => [job.name, job]));
      };
      const absent = join(dir, "absent.yml");
      const byDefault = await runUnder(absent);
      expect(byDefault.contained).toMatchObject({ status: "succeeded" });
      expect(byDefault.escape).toMatchObject({ status: "errored", outcome: "config_error" });
      expect(byDefault.escape!.reason).toContain(`capabilities[0]: DAC_READ_SEARCH is not granted by this host's default (no policy file at ${absent})`);

      const policy = join(dir, "policy.yml");
      await writeFile(policy, "version: 1\nprivileges:\n  user: root\n  capabilities: [DAC_READ_SEARCH]\n");
      const named = await runUnder(policy);
      expect(named.escape).toMatchObject({ status: "succeeded" });
      expect(named.contained).toMatchObject({ status: "errored", outcome: "config_error" });
      expect(named.contained!.reason).toContain(
        `capabilities[0]: CHOWN is not granted by this host's policy (${policy}); network: a network is not allowed by`,
      );
    });
  });

  it("validate: exit 0 with a summary, exit 2 with every positioned error", async () => {
    await withTempDir(async (dir) => {
      expect(await kto(["validate", "examples/kto.yml"])).toMatchObject({ code: 0, stdout: "examples/kto.yml: valid: 2 suites, 2 jobs\n" });
      expect(await kto(["validate", "examples/kunit-build.yml"])).toMatchObject({
        code: 0,
        stdout: "examples/kunit-build.yml: valid: 1 suite, 1 build, 2 jobs\n",
      });
      const bad = join(dir, "kto.yml");
      await writeFile(bad, "version: 1\nsuites:\n  - name: s\n    runner: docker\n    image: i\n    command: x\n    timeout: forever\n    retries: -1\n");
      const result = await kto(["validate", bad]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `${bad}:7:14: suites[0].timeout: expected a duration like 20m\n${bad}:8:14: suites[0].retries: Number must be greater than or equal to 0\n`,
      );
    });
  });

  it("parse: prints a summary, JSON in the documented shape, or JUnit", async () => {
    const log = "test/fixtures/results/kunit-test_is_test_passed-failure.log";
    const text = await kto(["parse", log]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain("ktap: failed: 9 passed, 1 failed, 0 skipped, 0 errored, 10 total");
    expect(text.stdout).toContain("failed: example › example_simple_test (lib/kunit/example-test.c:30)");
    const json = JSON.parse((await kto(["parse", log, "--json"])).stdout);
    expect(json).toMatchObject({ format: "ktap", status: "failed", counts: { passed: 9, failed: 1, skipped: 0, errored: 0, total: 10 } });
    expect(json.tests).toHaveLength(10);
    expect(json.tests[8]).toMatchObject({ name: "example_simple_test", status: "failed" });
    expect((await kto(["parse", log, "--junit"])).stdout).toContain('failures="1"');
    expect(await kto(["parse", "no/such/file"])).toMatchObject({ code: 2, stderr: "kto: no/such/file: no such file\n" });
  });

  it("plan and usage errors", async () => {
    expect((await kto(["plan", "examples/kto.yml"])).stdout).toMatch(/^job\s+runner\s+priority\s+timeout\s+labels\nbusybox-tap\s+docker/);
    // A plan with builds says which build each job waits for.
    expect((await kto(["plan", "examples/kunit-build.yml"])).stdout).toMatch(
      /^job\s+runner\s+priority\s+timeout\s+labels\s+after\nx86_64-kunit\s+build\s+2\s+60m\s+-\s+-\nkunit\s+qemu\s+2\s+10m\s+qemu-x86_64\s+x86_64-kunit\n$/,
    );
    expect((await kto(["run", "examples/kto.yml", "--jobs", "zero"])).code).toBe(2);
    expect((await kto(["run", "examples/kto.yml", "--suite", "nope"])).code).toBe(2);
    expect((await kto(["frobnicate"])).code).toBe(2);
  });

  it("Ctrl-C cancels running jobs, removes their containers and VMs, and still writes results", async () => {
    await withTempDir(async (dir) => {
      const config = join(dir, "slow.yml");
      await writeFile(
        config,
        `version: 1
suites:
  - { name: slow-container, runner: docker, image: kto/busybox:1, command: "echo going; sleep 300" }
  - { name: slow-vm, runner: qemu, kernel: /var/lib/kto/kernel/vmlinuz, command: "echo going; sleep 300", idle_timeout: 10m }
`,
      );
      const child = spawn(process.execPath, [KTO, "run", config, "--jobs", "2", "--out", join(dir, "out")], { cwd: ROOT, env: ENV });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if ((stderr.match(/: running/g) ?? []).length >= 2) {
            clearInterval(check);
            resolve();
          }
        }, 100);
      });
      child.kill("SIGINT");
      const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
      expect(code).toBe(1);
      const report = JSON.parse(await readFile(join(dir, "out", "results.json"), "utf8")) as RunReport;
      expect(report.jobs.map((j) => j.status)).toEqual(["cancelled", "cancelled"]);
      const containers = await new Docker().listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
      expect(containers).toHaveLength(0);
      expect(await runningQemus()).toEqual([]);
    });
  });
});

describe("kto run on the orchestrator's store", () => {
  it("resumes a run whose kto was SIGKILLed, runs what was left, and sweeps the orphaned container", async () => {
    await withTempDir(async (dir) => {
      const config = join(dir, "two.yml");
      const data = join(dir, "data");
      await writeFile(
        config,
        `version: 1
suites:
  - { name: first, runner: docker, image: kto/busybox:1, command: "echo one; sleep 4", priority: high }
  - { name: second, runner: docker, image: kto/busybox:1, command: "echo two" }
`,
      );
      const env = { ...process.env, CI: "1", KTO_DATA_DIR: data };
      const child = spawn(process.execPath, [KTO, "run", config, "--jobs", "1", "--out", join(dir, "out")], { cwd: ROOT, env });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (stderr.includes("first: running")) {
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
      child.kill("SIGKILL");
      await new Promise((resolve) => child.on("exit", resolve));

      // The first job's config changes before resuming: the stored plan, not the file, is what resumes.
      await writeFile(config, "version: 1\nsuites: []\n");
      const resumed = await promisify(execFile)(process.execPath, [KTO, "run", "--resume"], { cwd: ROOT, env }).catch(
        (e: { stdout: string; stderr: string; code: number }) => e,
      );
      expect(resumed.stderr).toContain("kto: second: started");
      const report = JSON.parse(await readFile(join(dir, "out", "results.json"), "utf8")) as RunReport;
      expect(report.jobs.map((j) => [j.name, j.status])).toEqual([
        ["first", "succeeded"],
        ["second", "succeeded"],
      ]);
      const left = await new Docker().listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
      expect(left).toHaveLength(0);

      const status = await promisify(execFile)(process.execPath, [KTO, "status"], { cwd: ROOT, env });
      expect(status.stdout).toContain("jobs: 2 submitted, 0 waiting, 0 active, 2 finished (2 succeeded");
      const gc = await promisify(execFile)(process.execPath, [KTO, "gc", "--older-than", "1ms"], { cwd: ROOT, env });
      expect(gc.stdout).toBe("kto: pruned 1 finished run and 1 results folder\n");
      await expect(readFile(join(dir, "out", "results.json"))).rejects.toThrow();
    });
  });
});
