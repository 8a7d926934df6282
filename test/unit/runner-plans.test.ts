import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { readCpio, writeCpio } from "../../src/runners/cpio.js";
import { readConsole, vmOutcome } from "../../src/runners/console-outcome.js";
import { checkDiskImage } from "../../src/runners/disk-image.js";
import { dockerCreateOptions } from "../../src/runners/docker-options.js";
import { decideOutcome } from "../../src/runners/finish-job.js";
import { jobInitramfs } from "../../src/runners/guest-initramfs.js";
import { kernelAppend, qemuArgs } from "../../src/runners/qemu-args.js";
import { parseKtap } from "../../src/runners/results/ktap.js";
import { grantPrivileges } from "../../src/runners/privilege-grant.js";
import { GRANTS_EVERYTHING, job, withTempDir } from "../helpers/job.js";

describe("docker container options", () => {
  it("applies the isolation defaults", () => {
    const spec = job({ memoryBytes: 256 * 1024 ** 2, cpus: 2, env: { A: "1" } });
    const options = dockerCreateOptions(spec, grantPrivileges(spec, GRANTS_EVERYTHING), "c", { workspace: "/ws", resultsDir: "/out" }, "me");
    expect(options.User).toBe("65534:65534");
    expect(options.Entrypoint).toEqual(["/bin/sh", "-c", "true"]);
    expect(options.Env).toEqual(expect.arrayContaining(["A=1", "KTO_RESULTS=/results"]));
    expect(options.HostConfig).toMatchObject({
      NetworkMode: "none",
      ReadonlyRootfs: true,
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      Memory: 256 * 1024 ** 2,
      NanoCpus: 2e9,
      Binds: ["/ws:/workspace:ro", "/out:/results:rw"],
    });
    expect(options.HostConfig?.Tmpfs).toHaveProperty("/tmp");
  });

  it("gives a network only when the suite asks, and runs argv commands as they are", () => {
    const spec = job({ network: true, command: ["make", "a b"] });
    const options = dockerCreateOptions(spec, grantPrivileges(spec, GRANTS_EVERYTHING), "c", { workspace: "/ws", resultsDir: "/out" }, "me");
    expect(options.HostConfig?.NetworkMode).toBe("bridge");
    expect(options.Entrypoint).toEqual(["make", "a b"]);
  });
});

describe("qemu invocation", () => {
  const base = {
    accelerator: "tcg" as const,
    machine: "pc",
    cpu: null,
    boot: "fast" as const,
    kernel: "/k",
    initrd: "/i",
    append: "console=ttyS0",
    memoryBytes: 512 * 1024 ** 2,
    cpus: 2,
    shares: [],
    qbootRom: "/q.rom",
  };

  it("boots fast with qboot, multi-threaded TCG and no defaults", () => {
    const args = qemuArgs(base);
    expect(args.join(" ")).toContain("-nodefaults");
    expect(args.join(" ")).toContain("-accel tcg,thread=multi");
    expect(args.join(" ")).toContain("-bios /q.rom");
    expect(args.join(" ")).toContain("-m 512M -smp 2");
    expect(args).toContain("-no-reboot");
  });

  it("uses KVM when told, SeaBIOS on the standard path, and 9p shares", () => {
    const args = qemuArgs({
      ...base,
      accelerator: "kvm",
      cpu: "host",
      boot: "standard",
      shares: [{ tag: "ws", path: "/w", readonly: true }],
    });
    const line = args.join(" ");
    expect(line).toContain("-accel kvm -cpu host");
    expect(line).not.toContain("-bios");
    expect(line).toContain("local,id=fs0,path=/w,security_model=none,readonly=on");
    expect(line).toContain("virtio-9p-pci,fsdev=fs0,mount_tag=ws");
  });

  it("opens a disk as explicit block nodes: its format named, no backing file followed, writes to kto's overlay", async () => {
    await withTempDir(async (dir) => {
      // A comma in a name would add an option in QEMU's key=value syntax; the disk goes as JSON.
      const path = join(dir, "a.img,file.locking=off,read-only=off");
      await writeFile(path, Buffer.alloc(4096));
      const image = await checkDiskImage(path);
      const args = qemuArgs({ ...base, disk: { image, overlay: "/tmp/o.qcow2" } });
      const blockdevs = args.flatMap((arg, index) => (args[index - 1] === "-blockdev" ? [JSON.parse(arg) as unknown] : []));
      expect(blockdevs).toEqual([
        { driver: "file", "node-name": "disk-image-file", filename: path, "read-only": true },
        { driver: "raw", "node-name": "disk-image", file: "disk-image-file", "read-only": true },
        { driver: "file", "node-name": "disk-overlay-file", filename: "/tmp/o.qcow2" },
        { driver: "qcow2", "node-name": "disk", file: "disk-overlay-file", backing: "disk-image" },
      ]);
      expect(args.join(" ")).toContain("-device virtio-blk-pci,drive=disk");
      expect(args).not.toContain("-drive");
    });
  });

  it("doubles commas in share paths, so a directory name cannot add QEMU options", () => {
    const line = qemuArgs({ ...base, shares: [{ tag: "ws", path: "/w/x,readonly=off", readonly: true }] }).join(" ");
    expect(line).toContain("path=/w/x,,readonly=off,security_model=none,readonly=on");
  });

  it("boots arm64 on the virt machine with the CPU model it is given", () => {
    const line = qemuArgs({ ...base, machine: "virt", cpu: "cortex-a57", qbootRom: undefined }).join(" ");
    expect(line).toContain("-M virt -accel tcg,thread=multi -cpu cortex-a57");
  });

  it("keeps the kernel loud for a user's initramfs and quiet in guest mode, on the architecture's console", () => {
    expect(kernelAppend({ guestMode: false, console: "ttyS0", extra: "kunit.filter_glob=x" })).toBe("console=ttyS0 panic=-1 reboot=t kunit.filter_glob=x");
    expect(kernelAppend({ guestMode: true, console: "ttyAMA0" })).toMatch(/^console=ttyAMA0 .*quiet/);
  });
});

describe("guest console outcomes", () => {
  const nonce = "abc123";
  const ending = { timedOut: false, cancelled: false, hung: false, qemuExitCode: 0, printed: true };

  it("reads the init and exit markers of this job only", () => {
    const facts = readConsole(`noise\nkto-init-${nonce}\nkto-exit-ffff: 0\nkto-exit-${nonce}: 3\n`, nonce);
    expect(facts).toMatchObject({ initSeen: true, exitStatus: 3 });
    expect(vmOutcome(facts, ending, true)).toBeNull();
  });

  it("tells a panic after init from one before it", () => {
    const after = readConsole(`kto-init-${nonce}\n[ 2.1] Kernel panic - not syncing: sysrq triggered crash\n`, nonce);
    expect(vmOutcome(after, ending, true)).toEqual({ outcome: "kernel_panic", reason: "Kernel panic - not syncing: sysrq triggered crash" });
    const before = readConsole("[ 0.9] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n", nonce);
    expect(vmOutcome(before, ending, true)?.outcome).toBe("boot_failure");
  });

  it("names an oops, a hang and a guest that never reported", () => {
    const oops = readConsole(`kto-init-${nonce}\n[ 3.2] BUG: kernel NULL pointer dereference, address: 0000000000000000\nkto-exit-${nonce}: 0\n`, nonce);
    expect(vmOutcome(oops, ending, true)?.outcome).toBe("oops");
    expect(vmOutcome(readConsole(`kto-init-${nonce}\n`, nonce), { ...ending, hung: true }, true)?.outcome).toBe("hang");
    expect(vmOutcome(readConsole(`kto-init-${nonce}\n`, nonce), ending, true)?.outcome).toBe("failed");
    expect(vmOutcome(readConsole("", nonce), ending, true)).toMatchObject({
      outcome: "boot_failure",
      reason: expect.stringMatching(/never reached kto's init/),
    });
    expect(vmOutcome(readConsole("", nonce), { ...ending, printed: false }, true)?.reason).toMatch(/printed nothing/);
  });
});

describe("job outcome", () => {
  const ran = { exitCode: 0, timedOut: false, cancelled: false };
  it("fails a zero exit with failing tests, and a non-zero exit with passing ones", () => {
    const failing = parseKtap("KTAP version 1\n1..1\nnot ok 1 x\n");
    const passing = parseKtap("KTAP version 1\n1..1\nok 1 x\n");
    expect(decideOutcome(ran, failing).status).toBe("failed");
    expect(decideOutcome({ ...ran, exitCode: 2 }, passing)).toMatchObject({ status: "failed", reason: "the command exited with 2" });
    expect(decideOutcome(ran, passing)).toMatchObject({ status: "succeeded", reason: "1 of 1 tests passed" });
  });

  it("lets results decide when there is no exit status, and says so when there is nothing", () => {
    expect(decideOutcome({ ...ran, exitCode: null }, parseKtap("KTAP version 1\n1..1\nok 1 x\n")).status).toBe("succeeded");
    expect(decideOutcome({ ...ran, exitCode: null }, null).status).toBe("failed");
  });

  it("puts timeouts and cancellation before anything the output says", () => {
    expect(decideOutcome({ ...ran, exitCode: null, timedOut: true }, null).status).toBe("timed_out");
    expect(decideOutcome({ ...ran, cancelled: true, timedOut: true }, null).status).toBe("cancelled");
  });
});

describe("cpio", () => {
  it("round-trips files, directories and symlinks, and concatenated archives", () => {
    const first = writeCpio([
      { kind: "dir", path: "bin" },
      { kind: "file", path: "bin/tool", data: Buffer.from([0, 1, 2, 255]), mode: 0o755 },
      { kind: "symlink", path: "bin/alias", target: "tool" },
    ]);
    const second = jobInitramfs(["echo", "it's"], { KEY: "a b" }, "n1");
    const entries = readCpio(Buffer.concat([first, second]));
    expect(entries.map((e) => e.path)).toEqual(["bin", "bin/tool", "bin/alias", "kto/nonce", "kto/command", "kto/env"]);
    expect(entries[1]).toEqual({ kind: "file", path: "bin/tool", data: Buffer.from([0, 1, 2, 255]), mode: 0o755 });
    expect(entries[2]).toEqual({ kind: "symlink", path: "bin/alias", target: "tool" });
    const command = entries.find((e) => e.path === "kto/command");
    expect(command?.kind === "file" && command.data.toString()).toBe("exec 'echo' 'it'\\''s'\n");
  });
});

describe("run summary", () => {
  it("lists the slowest tests when the results carry durations", async () => {
    const { jobReport, runReport } = await import("../../src/runners/report/run-report.js");
    const { summaryMarkdown } = await import("../../src/runners/report/summary-markdown.js");
    const { parseTap } = await import("../../src/runners/results/tap.js");
    const results = parseTap(
      "TAP version 13\n1..3\nok 1 - quick\n  ---\n  duration_ms: 5\n  ...\nok 2 - slow\n  ---\n  duration_ms: 4000\n  ...\nok 3 - untimed\n",
    );
    const spec = job({ id: "timed" });
    const at = new Date(0).toISOString();
    const report = runReport(
      "kto.yml",
      [
        jobReport(
          spec,
          {
            jobId: "timed",
            status: "succeeded",
            outcome: "passed",
            reason: "ok",
            exitCode: 0,
            startedAt: at,
            finishedAt: at,
            durationMs: 4100,
            results,
            metrics: { wallMs: 4100, cpuMs: null, memoryPeakBytes: null },
            artifacts: [],
            logs: { stdout: "stdout.log", stderr: "stderr.log" },
            stdoutTruncated: false,
            stderrTruncated: false,
          },
          "jobs/timed",
        ),
      ],
      new Date(0),
      new Date(4100),
    );
    expect(report.jobs[0]!.slowest).toEqual([
      { name: "slow", path: [], durationMs: 4000 },
      { name: "quick", path: [], durationMs: 5 },
    ]);
    expect(summaryMarkdown(report)).toContain("## Slowest tests\n\n| test | job | duration |\n|---|---|---|\n| slow | timed | 4.0s |\n| quick | timed | 5ms |");
  });
});
