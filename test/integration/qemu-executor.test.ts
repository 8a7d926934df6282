import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { writeCpio } from "../../src/runners/cpio.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { detectHost } from "../../src/runners/host-capabilities.js";
import { QemuExecutor } from "../../src/runners/qemu-executor.js";
import { runJob } from "../../src/runners/run-job.js";
import { paddedText, qemuImg } from "../helpers/disk-images.js";
import { ARM64_BUSYBOX, ARM64_KERNEL, qemuJob, withTempDir } from "../helpers/job.js";

const factory = new ExecutorFactory();

/** A user's own initramfs: busybox and an init script, no help from kto inside the guest. */
async function userInitramfs(path: string, init: string, busyboxPath?: string): Promise<void> {
  const busybox = await readFile(busyboxPath ?? (await detectHost("x86_64", { probe: false })).busybox!);
  await writeFile(
    path,
    writeCpio([
      { kind: "dir", path: "bin" },
      { kind: "dir", path: "proc" },
      { kind: "file", path: "bin/busybox", data: busybox, mode: 0o755 },
      ...["sh", "echo", "sleep", "poweroff", "mount"].map((a) => ({ kind: "symlink" as const, path: `bin/${a}`, target: "busybox" })),
      { kind: "file", path: "init", data: Buffer.from(`#!/bin/sh\n${init}\n`), mode: 0o755 },
    ]),
  );
}

describe("QemuExecutor booting Debian's kernel", () => {
  it("reads KTAP from a user's own initramfs that powers off by itself", async () => {
    await withTempDir(async (dir) => {
      await userInitramfs(
        join(dir, "initramfs.cpio"),
        'echo "KTAP version 1"; echo "1..2"; echo "ok 1 boots"; echo "not ok 2 feature # SKIP not here"; poweroff -f',
      );
      const result = await runJob(qemuJob({ id: "user-initramfs", initramfs: "initramfs.cpio", command: undefined }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "succeeded", exitCode: null });
      expect(result.results?.counts).toEqual({ passed: 1, failed: 0, skipped: 1, errored: 0, total: 2 });
      expect(result.metrics.bootMs).toBeGreaterThan(0);
    });
  });

  it("names a hang when the guest goes silent for the idle limit", async () => {
    await withTempDir(async (dir) => {
      await userInitramfs(join(dir, "initramfs.cpio"), "echo about to hang; sleep 1000");
      const result = await runJob(qemuJob({ id: "hang", initramfs: "initramfs.cpio", command: undefined, idleTimeoutMs: 3000 }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "failed", outcome: "hang" });
    });
  });

  it("names a kernel panic in the guest", async () => {
    await withTempDir(async (dir) => {
      const result = await runJob(qemuJob({ id: "panic", command: "echo c > /proc/sysrq-trigger" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      expect(result).toMatchObject({ status: "failed", outcome: "kernel_panic" });
      expect(result.reason).toContain("Kernel panic - not syncing");
      expect(await readFile(join(dir, "job", "console.log"), "utf8")).toContain("sysrq");
    });
  });

  it("names a boot that never reaches init", async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, "broken.cpio"), Buffer.from("this is not an initramfs"));
      const result = await runJob(qemuJob({ id: "no-init", initramfs: "broken.cpio", command: undefined }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "failed", outcome: "boot_failure" });
    });
  });

  it("boots the standard way too, and says which path it took", async () => {
    await withTempDir(async (dir) => {
      const standard = new ExecutorFactory({ qemu: new QemuExecutor({ standardBoot: true }) });
      const result = await runJob(qemuJob({ id: "standard", command: "echo via-seabios" }), { factory: standard, workspace: dir, jobDir: join(dir, "job") });
      expect(result.status).toBe("succeeded");
      // Whatever this host's probe found: KVM where it runs guests, TCG where it does not.
      const probed = (await standard.qemu.host("x86_64")).accelerator!.accelerator;
      expect(result.boot).toMatchObject({ path: "standard", accelerator: probed });
      const fast = await runJob(qemuJob({ id: "fast", command: "true" }), { factory, workspace: dir, jobDir: join(dir, "job2") });
      expect(fast.boot).toMatchObject({ path: "fast", detail: expect.stringContaining("PVH") });
    });
  });

  it("attaches a disk by what it holds, not its name: the guest reads it, and what it writes is thrown away", async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, "content.raw"), paddedText("kto-disk-content"));
      // Named the other way round on purpose: a name says nothing about the format.
      await qemuImg("convert", "-f", "raw", "-O", "qcow2", join(dir, "content.raw"), join(dir, "qcow2.img"));
      await writeFile(join(dir, "raw.qcow2"), paddedText("kto-disk-content"));
      const written = "echo overwritten | dd of=/dev/vda conv=notrunc 2>/dev/null; sync; echo 3 > /proc/sys/vm/drop_caches";
      for (const disk of ["qcow2.img", "raw.qcow2"]) {
        const before = await readFile(join(dir, disk));
        const jobDir = join(dir, `job-${disk}`);
        const command = `echo "read=$(head -c 16 /dev/vda)"; ${written}; echo "reread=$(head -c 11 /dev/vda)"; cat /sys/block/vda/size`;
        const result = await runJob(qemuJob({ id: `disk-${disk}`, disk, command }), { factory, workspace: dir, jobDir });
        expect(result).toMatchObject({ status: "succeeded" });
        const guestConsole = await readFile(join(jobDir, "console.log"), "utf8");
        expect(guestConsole).toMatch(/^read=kto-disk-content\r?$/m);
        expect(guestConsole).toMatch(/^reread=overwritten\r?$/m);
        expect(guestConsole).toMatch(/^2048\r?$/m);
        expect((await readFile(join(dir, disk))).equals(before)).toBe(true);
      }
    });
  });

  it("errors with the path when the kernel is missing", async () => {
    await withTempDir(async (dir) => {
      const result = await runJob(qemuJob({ id: "nokernel", kernel: "out/bzImage" }), { factory, workspace: dir, jobDir: join(dir, "job") });
      // The config's fault: no other runner would find the file either, so it is not retried.
      expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
      expect(result.reason).toBe(`kernel: ${join(dir, "out/bzImage")}: no such file`);
    });
  });

  it("boots an arm64 Debian kernel on this host in kto's guest mode, with its workspace and disk, and reads its KTAP", async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, "marker.txt"), "from-the-host\n");
      await writeFile(join(dir, "content.raw"), paddedText("kto-disk-content"));
      await qemuImg("convert", "-f", "raw", "-O", "qcow2", join(dir, "content.raw"), join(dir, "disk.qcow2"));
      const command =
        'echo "KTAP version 1"; echo "1..3"; echo "ok 1 arch_is_$(uname -m)"; [ "$(cat /workspace/marker.txt)" = from-the-host ] && echo "ok 2 workspace_mounted" || echo "not ok 2 workspace_mounted"; ' +
        '[ "$(head -c 16 /dev/vda)" = kto-disk-content ] && echo "ok 3 disk_attached" || echo "not ok 3 disk_attached"';
      const result = await runJob(qemuJob({ id: "arm64-guest", arch: "arm64", kernel: ARM64_KERNEL, disk: "disk.qcow2", command }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "succeeded", exitCode: 0, boot: { machine: "virt" } });
      expect(result.results?.tests.map((t) => t.name)).toEqual(["arch_is_aarch64", "workspace_mounted", "disk_attached"]);
      expect(result.results?.counts).toMatchObject({ passed: 3, total: 3 });
      expect(result.boot?.detail).toMatch(/^(tcg|kvm)/);
    });
  });

  it("boots an arm64 kernel with a user's own arm64 initramfs", async () => {
    await withTempDir(async (dir) => {
      await userInitramfs(join(dir, "initramfs.cpio"), 'echo "KTAP version 1"; echo "1..1"; echo "ok 1 arm64_boots"; poweroff -f', ARM64_BUSYBOX);
      const result = await runJob(qemuJob({ id: "arm64-user", arch: "arm64", kernel: ARM64_KERNEL, initramfs: "initramfs.cpio", command: undefined }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "succeeded", results: { counts: { passed: 1, total: 1 } } });
      expect(await readFile(join(dir, "job", "console.log"), "utf8")).toMatch(/Booting Linux on physical CPU/);
    });
  });
});
