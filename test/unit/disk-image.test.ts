import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { checkDiskImage, writeDiskOverlay } from "../../src/runners/disk-image.js";
import { JobInputError } from "../../src/runners/errors.js";
import { qemuArgs } from "../../src/runners/qemu-args.js";
import { emptyQcow2 } from "../../src/runners/qcow2.js";
import { qemuImg } from "../helpers/disk-images.js";
import { withTempDir } from "../helpers/job.js";

const vm = {
  accelerator: "tcg" as const,
  machine: "pc",
  cpu: null,
  boot: "fast" as const,
  kernel: "/k",
  append: "console=ttyS0",
  memoryBytes: 512 * 1024 ** 2,
  cpus: 1,
  shares: [],
};

/** A plain qcow2 from qemu-img, edited by `edit` before it is written back. */
async function editedQcow2(path: string, edit: (image: Buffer) => void): Promise<void> {
  await qemuImg("create", "-q", "-f", "qcow2", path, "1M");
  const image = await readFile(path);
  edit(image);
  await writeFile(path, image);
}

async function refusal(path: string): Promise<JobInputError> {
  const error = await checkDiskImage(path).then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(JobInputError);
  return error as JobInputError;
}

describe("a disk image's format and size come from its bytes", () => {
  it("reads a qcow2 by its magic, whatever its name, and its virtual size from the header", async () => {
    await withTempDir(async (dir) => {
      await qemuImg("create", "-q", "-f", "qcow2", join(dir, "disk.img"), "3G");
      expect(await checkDiskImage(join(dir, "disk.img"))).toEqual({ path: join(dir, "disk.img"), format: "qcow2", virtualBytes: 3 * 1024 ** 3 });
    });
  });

  it("takes anything else as raw, its size the file's, even a file too short for any header", async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, "disk.qcow2"), "QF");
      expect(await checkDiskImage(join(dir, "disk.qcow2"))).toEqual({ path: join(dir, "disk.qcow2"), format: "raw", virtualBytes: 2 });
      // A VMDK descriptor may name other files too; as raw, QEMU shows the guest its bytes and opens nothing.
      await writeFile(join(dir, "desc.vmdk"), '# Disk DescriptorFile\nRW 8 FLAT "/etc/shadow" 0\n');
      expect(await checkDiskImage(join(dir, "desc.vmdk"))).toMatchObject({ format: "raw" });
    });
  });

  it("attaches a qcow2 with QEMU told to open no backing file", async () => {
    await withTempDir(async (dir) => {
      await qemuImg("create", "-q", "-f", "qcow2", join(dir, "disk.qcow2"), "1M");
      const image = await checkDiskImage(join(dir, "disk.qcow2"));
      const args = qemuArgs({ ...vm, disk: { image, overlay: join(dir, "overlay.qcow2") } });
      expect(args).toContain(JSON.stringify({ driver: "qcow2", "node-name": "disk-image", file: "disk-image-file", "read-only": true, backing: null }));
    });
  });
});

describe("a disk image kto cannot vouch for is the config's fault, named by field and path", () => {
  it("refuses a truncated qcow2 header", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "disk.qcow2");
      await writeFile(path, Buffer.concat([Buffer.from("QFI\xfb", "latin1"), Buffer.alloc(40)]));
      expect((await refusal(path)).message).toBe(`disk: ${path}: a qcow2 header kto cannot read: truncated: 44 bytes, where a qcow2 header has at least 72`);
    });
  });

  it("refuses a garbled qcow2 header, saying which field is wrong", async () => {
    await withTempDir(async (dir) => {
      const cases: [string, (image: Buffer) => void, string][] = [
        ["version", (image) => image.writeUInt32BE(7, 4), "version 7, where qcow2 has 2 and 3"],
        ["clusters", (image) => image.writeUInt32BE(30, 20), "cluster_bits 30, outside 9..21"],
        ["extension", (image) => image.writeUInt32BE(0x10000, 0x70 + 4), "header extension 0x6803f857 is 65536 bytes, past the header's end (byte 65536)"],
      ];
      for (const [name, edit, detail] of cases) {
        const path = join(dir, `${name}.qcow2`);
        await editedQcow2(path, edit);
        expect((await refusal(path)).message).toBe(`disk: ${path}: a qcow2 header kto cannot read: ${detail}`);
      }
    });
  });

  it("refuses an external data file flagged in the header even with its name missing, and an encrypted image", async () => {
    await withTempDir(async (dir) => {
      await editedQcow2(join(dir, "flagged.qcow2"), (image) => image.writeBigUInt64BE(1n << 2n, 72));
      expect((await refusal(join(dir, "flagged.qcow2"))).message).toMatch(/: a qcow2 image that names an external data file \(its name missing\); /);
      await editedQcow2(join(dir, "encrypted.qcow2"), (image) => image.writeUInt32BE(1, 32));
      expect((await refusal(join(dir, "encrypted.qcow2"))).message).toMatch(/: an encrypted qcow2 image, which kto has no key for$/);
    });
  });
});

describe("the overlay that takes a guest's writes", () => {
  it("is a qcow2 that qemu-img finds sound, of the disk's size rounded up to a sector, naming no file", async () => {
    await withTempDir(async (dir) => {
      // 5 TiB needs a second L1 cluster.
      for (const [bytes, expected] of [
        [0, 0],
        [1000, 1024],
        [1024 ** 2, 1024 ** 2],
        [5 * 1024 ** 4, 5 * 1024 ** 4],
      ] as const) {
        const path = join(dir, `${bytes}.qcow2`);
        await writeFile(path, emptyQcow2(bytes));
        await qemuImg("check", "-q", "-f", "qcow2", path);
        const info = JSON.parse(await qemuImg("info", "--output=json", "-f", "qcow2", path)) as Record<string, unknown>;
        expect(info).toMatchObject({ "virtual-size": expected, "cluster-size": 65536 });
        expect(info).not.toHaveProperty("backing-filename");
        expect(info).not.toHaveProperty("format-specific.data.data-file");
      }
    });
  });

  it("is written in the job's scratch directory", async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, "disk.raw"), Buffer.alloc(4096));
      const overlay = await writeDiskOverlay(await checkDiskImage(join(dir, "disk.raw")), dir);
      expect(overlay).toBe(join(dir, "disk-overlay.qcow2"));
      expect((await readFile(overlay)).subarray(0, 4).toString("latin1")).toBe("QFI\xfb");
    });
  });
});
