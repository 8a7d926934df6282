import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { readCachedChoice, probeKey } from "../../src/runners/accelerator-probe.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { probeGuests } from "../../src/runners/host-labels.js";
import { QemuExecutor } from "../../src/runners/qemu-executor.js";
import { runJob } from "../../src/runners/run-job.js";
import { brokenKvmHost } from "../helpers/broken-kvm.js";
import { qemuJob, withTempDir } from "../helpers/job.js";

// QEMU fails KVM in its own words: no device, or a device that is not KVM.
const KVM_REFUSED = /failed to initialize kvm|Could not access KVM kernel module/;

/** A runner with its own probe cache, reading the environment it is given. */
function runnerFor(dir: string, env: NodeJS.ProcessEnv): { qemu: QemuExecutor; factory: ExecutorFactory } {
  const qemu = new QemuExecutor({ cacheDir: join(dir, "cache"), env });
  return { qemu, factory: new ExecutorFactory({ qemu }) };
}

describe("QEMU on the hosts users have: KVM working, absent, or present and broken", () => {
  it("a /dev/kvm that opens but runs no guest: no kvm label, and the job passes on TCG saying why", async () => {
    await withTempDir(async (dir) => {
      const broken = await brokenKvmHost(dir, "kvm-broken");
      const { qemu, factory } = runnerFor(dir, broken.env);
      const host = await qemu.host("x86_64");
      expect(host).toMatchObject({ kvm: false, accelerator: { accelerator: "tcg", bootable: true, measured: true } });
      const kvmAttempts = host.accelerator!.attempts.filter((a) => a.accelerator === "kvm");
      expect(kvmAttempts.map((a) => a.cpu)).toEqual(["host", "host,arch-capabilities=off,pmu=off"]);
      for (const attempt of kvmAttempts) {
        expect(attempt.ok).toBe(false);
        expect(attempt.detail).toMatch(KVM_REFUSED);
        expect(attempt.detail).not.toMatch(/null/);
      }
      const env = { ...broken.env, KTO_CACHE_DIR: join(dir, "cache") };
      const native = (await probeGuests(env)).find((g) => g.arch === "x86_64");
      expect(native).toMatchObject({ accelerator: "tcg" });

      const result = await runJob(qemuJob({ id: "on-tcg", command: "echo ran" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "succeeded", boot: { accelerator: "tcg" } });
      expect(result.boot!.detail).toMatch(/^tcg, because kvm -cpu host: .*(failed to initialize kvm|Could not access KVM)/);
    });
  });

  it("a host on which nothing boots says so before a job pays for a boot, as the host's fault", async () => {
    await withTempDir(async (dir) => {
      const broken = await brokenKvmHost(dir, "all-broken");
      const { qemu, factory } = runnerFor(dir, broken.env);
      expect((await qemu.host("x86_64")).accelerator).toMatchObject({ bootable: false });
      const result = await runJob(qemuJob({ id: "nowhere" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "errored", outcome: "infrastructure" });
      expect(result.reason).toMatch(
        /^this host boots no x86_64 guest: no accelerator booted a guest: .*exited with status 1: .*failed to initialize kvm|Could not access KVM/,
      );
      expect(result.reason).not.toMatch(/exited with null/);
      expect(result.metrics.bootMs).toBeUndefined();
    });
  });

  it("KVM that passed the probe and fails a job: the job reruns on TCG at once, and the host remembers", async () => {
    await withTempDir(async (dir) => {
      const broken = await brokenKvmHost(dir, "kvm-fails-jobs");
      const { qemu, factory } = runnerFor(dir, broken.env);
      expect((await qemu.host("x86_64")).accelerator).toMatchObject({ accelerator: "kvm", cpu: "host" });
      const result = await runJob(qemuJob({ id: "demoted", command: "echo ran" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "succeeded", boot: { accelerator: "tcg" } });
      expect(result.boot!.detail).toMatch(/^tcg, because kvm -cpu host: a job's boot failed: .*exited with status 1/);
      expect((await qemu.host("x86_64")).kvm).toBe(false);
      // A new process on this host starts on TCG: the demotion was written to the probe cache.
      const later = new QemuExecutor({ cacheDir: join(dir, "cache"), env: broken.env });
      expect((await later.host("x86_64")).accelerator).toMatchObject({ accelerator: "tcg" });
      const key = await probeKey(broken.qemu, broken.env.KTO_KVM_DEVICE!);
      expect((await readCachedChoice(join(dir, "cache"), "x86_64", key))?.accelerator).toBe("tcg");
    });
  });

  it("no /dev/kvm, or KVM ruled out by the operator: TCG, named, without trying a KVM boot", async () => {
    await withTempDir(async (dir) => {
      const absent = runnerFor(dir, { ...process.env, KTO_NO_KVM: "", KTO_KVM_DEVICE: join(dir, "no-such-kvm") });
      const host = await absent.qemu.host("x86_64");
      expect(host.accelerator).toMatchObject({ accelerator: "tcg", bootable: true });
      expect(host.accelerator!.detail).toMatch(/^tcg, because kvm: .*no-such-kvm: ENOENT/);
      const off = runnerFor(join(dir, "off"), { ...process.env, KTO_NO_KVM: "1" });
      expect((await off.qemu.host("x86_64")).accelerator!.detail).toBe("tcg, because kvm: KTO_NO_KVM is set");
      const result = await runJob(qemuJob({ id: "no-kvm", command: "echo ran" }), { factory: absent.factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "succeeded", boot: { accelerator: "tcg" } });
      expect(await readFile(join(dir, "job", "result.json"), "utf8")).toContain("ENOENT");
    });
  });

  it("a host with no kernel of its own to probe with measures its accelerator on the first job's kernel", async () => {
    await withTempDir(async (dir) => {
      const broken = await brokenKvmHost(dir, "kvm-broken");
      const { qemu, factory } = runnerFor(dir, { ...broken.env, KTO_PROBE_KERNEL: join(dir, "no-such-kernel") });
      expect((await qemu.host("x86_64")).accelerator).toMatchObject({ measured: false, accelerator: "tcg" });
      const result = await runJob(qemuJob({ id: "measures", command: "echo ran" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "succeeded", boot: { accelerator: "tcg" } });
      expect(result.boot!.detail).toMatch(/^tcg, because kvm -cpu host: .*(failed to initialize kvm|Could not access KVM)/);
      expect((await qemu.host("x86_64")).accelerator).toMatchObject({ measured: true, bootable: true });
    });
  });

  it("a job sent here for its kvm label after this host's KVM stopped working is the host's fault: retried elsewhere", async () => {
    await withTempDir(async (dir) => {
      const broken = await brokenKvmHost(dir, "kvm-broken");
      const { factory } = runnerFor(dir, broken.env);
      const result = await runJob(qemuJob({ id: "wants-kvm", labels: ["kvm"] }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "errored", outcome: "infrastructure" });
      expect(result.reason).toMatch(/labels ask for kvm, and no KVM guest runs on this host \(tcg, because kvm -cpu host/);
    });
  });
});
