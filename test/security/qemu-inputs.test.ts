import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "@jest/globals";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { baseInitramfs, GUEST_MODULES } from "../../src/runners/guest-initramfs.js";
import { detectHost } from "../../src/runners/host-capabilities.js";
import { extractVmlinux, MAX_VMLINUX_BYTES } from "../../src/runners/kernel-image.js";
import { readCpio } from "../../src/runners/cpio.js";
import { runJob } from "../../src/runners/run-job.js";
import { paddedText, qcow2NamingBacking, qemuImg } from "../helpers/disk-images.js";
import { HOST_KERNEL, qemuJob, withTempDir } from "../helpers/job.js";
import { listedModules, writeModuleListingKernel } from "../helpers/multiboot-kernel.js";

const factory = new ExecutorFactory();

describe("a pull request's config cannot make QEMU read the host's files", () => {
  it("refuses a kernel, initramfs or disk outside the workspace, directly or through a symlink, as the config's fault", async () => {
    await withTempDir(async (dir) => {
      const workspace = join(dir, "ws");
      await mkdir(workspace);
      await symlink("/etc/shadow", join(workspace, "innocent.img"));
      const attempts = [
        qemuJob({ id: "kernel-outside", kernel: "/etc/passwd" }),
        qemuJob({ id: "initramfs-via-symlink", initramfs: "innocent.img", command: undefined }),
        qemuJob({ id: "disk-via-dotdot", disk: "../../../../etc/shadow" }),
      ];
      for (const job of attempts) {
        const result = await runJob(job, { factory, workspace, jobDir: join(dir, job.slug) });
        expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
        expect(result.reason).toMatch(/outside the workspace and the host's kernel directories/);
      }
    });
  });

  it("loads no module through a symlink that leaves the modules tree", async () => {
    await withTempDir(async (dir) => {
      const modules = join(dir, "modules");
      await mkdir(join(modules, "kernel"), { recursive: true });
      await symlink("/etc/passwd", join(modules, "kernel", "virtio.ko"));
      await writeFile(join(modules, "kernel", "9p.ko"), "a module");
      const host = await detectHost("x86_64", { probe: false });
      const base = await baseInitramfs({ busybox: host.busybox!, modulesDir: modules, cacheDir: join(dir, "cache") });
      expect(base.modules).toEqual(["9p"]);
      const files = readCpio(await readFile(base.path)).filter((e) => e.kind === "file" && e.path.startsWith("lib/kto-modules/"));
      expect(files.map((e) => e.path)).toEqual(["lib/kto-modules/9p.ko"]);
      expect(GUEST_MODULES).toContain("virtio");
    });
  });

  it("a comma in a disk's file name stays part of the name (QEMU's option syntax), so it cannot turn the snapshot off", async () => {
    await withTempDir(async (dir) => {
      // Unescaped, QEMU would read `file=x.img,snapshot=off,...` as a second option, writing to the image.
      const name = "x.img,snapshot=off";
      await writeFile(join(dir, name), Buffer.alloc(1024 * 1024));
      const result = await runJob(qemuJob({ id: "comma-disk", disk: name, command: "cat /sys/block/vda/size" }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "succeeded" });
      expect(await readFile(join(dir, "job", "console.log"), "utf8")).toMatch(/^2048\r?$/m);
      expect((await readFile(join(dir, name))).every((byte) => byte === 0)).toBe(true);
    });
  });
});

describe("a disk image cannot make QEMU read a host file it names", () => {
  const SECRET = "kto-host-secret-7c1d";

  /** Boots a job that prints the start of its disk, an image `make` left in the workspace that names a file outside it. */
  async function diskNaming(make: (image: string, outside: string) => Promise<void>) {
    return withTempDir(async (dir) => {
      const workspace = join(dir, "ws");
      const outside = join(dir, "outside.raw");
      await mkdir(workspace);
      await make(join(workspace, "disk.qcow2"), outside);
      const result = await runJob(qemuJob({ id: "disk-names-a-file", disk: "disk.qcow2", command: "head -c 64 /dev/vda" }), {
        factory,
        workspace,
        jobDir: join(dir, "job"),
      });
      const guestConsole = await readFile(join(dir, "job", "console.log"), "utf8").catch(() => "");
      return { result, guestConsole };
    });
  }

  it("refuses a qcow2 that names a backing file, as the config's fault naming `disk`", async () => {
    const { result, guestConsole } = await diskNaming(async (image, outside) => {
      await writeFile(outside, paddedText(SECRET));
      await qemuImg("create", "-q", "-f", "qcow2", "-b", outside, "-F", "raw", image);
    });
    expect(guestConsole).not.toContain(SECRET);
    expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(result.reason).toMatch(/^disk: \S+\/ws\/disk\.qcow2: a qcow2 image that names a backing file \(".*outside\.raw"\)/);
  });

  it("refuses a qcow2 that names an external data file", async () => {
    const { result, guestConsole } = await diskNaming(async (image, outside) => {
      await qemuImg("create", "-q", "-f", "qcow2", "-o", `data_file=${outside},data_file_raw=on`, image, "1M");
      await writeFile(outside, paddedText(SECRET));
    });
    expect(guestConsole).not.toContain(SECRET);
    expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(result.reason).toMatch(/^disk: \S+: a qcow2 image that names an external data file \(".*outside\.raw"\)/);
  });

  it("refuses a hand-made qcow2 whose backing file is a json: description of a host file", async () => {
    const { result, guestConsole } = await diskNaming(async (image, outside) => {
      await writeFile(outside, paddedText(SECRET));
      await qcow2NamingBacking(image, `json:${JSON.stringify({ driver: "raw", file: { driver: "file", filename: outside } })}`);
    });
    expect(guestConsole).not.toContain(SECRET);
    expect(result).toMatchObject({ status: "errored", outcome: "config_error" });
    expect(result.reason).toMatch(/^disk: \S+: a qcow2 image that names a backing file \("json:/);
  });
});

describe("a kernel that is a compression bomb", () => {
  it("is not decompressed past kto's limit", async () => {
    await withTempDir(async (dir) => {
      // An ELF header, then zeros, well past any real vmlinux: gzip makes that about 300 KiB.
      const bomb = Buffer.alloc(MAX_VMLINUX_BYTES + 1024 * 1024);
      bomb.write("\x7fELF", 0, "latin1");
      const image = Buffer.concat([Buffer.from("MZ not really a bzImage "), gzipSync(bomb, { level: 1 })]);
      await writeFile(join(dir, "bzImage"), image);
      const result = await extractVmlinux(join(dir, "bzImage"), join(dir, "cache"));
      expect(result).toEqual({ ok: false, detail: "no decompressible ELF payload found in the bzImage" });
    });
  });

  it("still extracts Debian's real kernel", async () => {
    await withTempDir(async (dir) => {
      const result = await extractVmlinux(HOST_KERNEL, join(dir, "cache"));
      expect(result).toMatchObject({ ok: true, detail: expect.stringMatching(/^vmlinux extracted/) });
    });
  });
});

describe("QEMU reads only kto's copy of a kernel and initramfs, whatever their names", () => {
  const SECRET = "kto-host-secret-4e2a";

  /** Boots a multiboot kernel with `initramfs` in a workspace `make` fills; returns the modules QEMU gave it. */
  async function modulesLoaded(initramfs: string, make: (workspace: string, outside: string) => Promise<void>) {
    return withTempDir(async (dir) => {
      const workspace = join(dir, "ws");
      const outside = join(dir, "outside", "secret");
      await mkdir(join(dir, "outside"), { recursive: true });
      await writeFile(outside, SECRET);
      await mkdir(workspace);
      await writeModuleListingKernel(join(workspace, "mb.elf"));
      await make(workspace, outside);
      const resolved = initramfs.replace("{outside}", outside);
      await runJob(qemuJob({ id: "multiboot", kernel: "mb.elf", initramfs: resolved, command: undefined }), {
        factory,
        workspace,
        jobDir: join(dir, "job"),
      });
      return listedModules(await readFile(join(dir, "job", "console.log"), "utf8"));
    });
  }

  it("a comma in an initramfs's path does not add a host file as a second multiboot module", async () => {
    const modules = await modulesLoaded("a,{outside}", async (workspace, outside) => {
      // QEMU would split `<ws>/a,<outside>` into `<ws>/a` and `<outside>`.
      await writeFile(join(workspace, "a"), "decoy");
      await mkdir(join(workspace, `a,${join(outside, "..")}`), { recursive: true });
      await writeFile(join(workspace, `a,${outside}`), "intended");
    });
    expect(modules).toEqual(["intended"]);
  });

  it("a space in an initramfs's path does not make QEMU load the file, or symlink, before it", async () => {
    const modules = await modulesLoaded("k x", async (workspace, outside) => {
      // QEMU would cut `<ws>/k x` to `<ws>/k`, which points out of the workspace.
      await symlink(outside, join(workspace, "k"));
      await writeFile(join(workspace, "k x"), "intended");
    });
    expect(modules).toEqual(["intended"]);
  });
});
