import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { execa } from "execa";
import fc from "fast-check";
import { checkDiskImage } from "../../src/runners/disk-image.js";
import { JobInputError } from "../../src/runners/errors.js";
import { qemuArgs } from "../../src/runners/qemu-args.js";
import { readQcow2Header } from "../../src/runners/qcow2.js";
import { paddedText, qemuImg } from "../helpers/disk-images.js";

const vm = {
  accelerator: "tcg" as const,
  machine: "pc",
  cpu: null,
  boot: "fast" as const,
  kernel: "/k",
  append: "console=ttyS0",
  memoryBytes: 256 * 1024 ** 2,
  cpus: 1,
  shares: [],
};

const EXTENSIONS = { end: 0, dataFile: 0x44415441, backingFormat: 0xe2792aca, featureNames: 0x6803f857, bitmaps: 0x23852875, unknown: 0x12345678 };

/** `value` seven times in eight, else one of `other`: each field odd now and then, not all at once. */
function usually<T, U>(value: T, other: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ arbitrary: fc.constant(value), weight: 7 }, { arbitrary: other, weight: 1 });
}

/** A qcow2 header built from fields, the odd values among the usual ones, so mutants reach the code QEMU runs. */
const header = fc.record({
  version: usually(3, fc.constantFrom(2, 4)),
  clusterBits: usually(16, fc.constantFrom(9, 12, 21, 22)),
  backing: usually(null, fc.record({ offset: fc.constantFrom(0, 0x400, 0x20000), bytes: fc.constantFrom(0, 11, 1024) })),
  incompatible: usually(0, fc.nat({ max: 31 })),
  headerLength: usually(112, fc.constantFrom(104, 120, 96, 0x20000)),
  extensions: fc.array(
    fc.record({
      type: fc.constantFrom(...Object.values(EXTENSIONS)),
      name: fc.constantFrom("/etc/passwd", "/etc/passwd", "data.raw", "", "x".repeat(300)),
      length: usually(undefined, fc.constantFrom(0, 3, 0x1000, 0x10000, 0xffffffff)),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

type HeaderFields = typeof header extends fc.Arbitrary<infer T> ? T : never;

/** Bytes changed at random afterwards, mostly in the header and its extensions. */
const noise = fc.array(fc.record({ at: fc.integer({ min: 0, max: 0x7ff }), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 2 });

/** `fields` written over a real, empty qcow2, so what QEMU reads past the header (tables, refcounts) is sound. */
function crafted(base: Buffer, fields: HeaderFields, bytes: { at: number; byte: number }[]): Buffer {
  const image = Buffer.from(base);
  image.fill(0, 4, 0x800);
  image.writeUInt32BE(fields.version, 4);
  image.writeBigUInt64BE(BigInt(fields.backing?.offset ?? 0), 8);
  image.writeUInt32BE(fields.backing?.bytes ?? 0, 16);
  image.write("/etc/passwd", 0x400, "latin1"); // what a backing offset of 0x400 names
  image.writeUInt32BE(fields.clusterBits, 20);
  base.copy(image, 24, 24, 72); // size, L1 and refcount tables as qemu-img laid them out
  image.writeBigUInt64BE(BigInt(fields.incompatible), 72);
  image.writeUInt32BE(4, 96);
  image.writeUInt32BE(fields.headerLength, 100);
  let offset = fields.version === 2 ? 72 : Math.min(fields.headerLength, 0x300);
  for (const extension of fields.extensions) {
    const name = Buffer.from(extension.name, "latin1").subarray(0, 0x300);
    image.writeUInt32BE(extension.type, offset);
    image.writeUInt32BE(extension.length ?? name.length, offset + 4);
    name.copy(image, offset + 8);
    offset += 8 + Math.ceil(name.length / 8) * 8;
  }
  for (const change of bytes) image[change.at] = change.byte;
  return image;
}

/** What QEMU itself reads in a header: the backing file and data file it would open. */
async function namedByQemu(path: string): Promise<{ backing?: string; dataFile?: string } | null> {
  const info = await execa("qemu-img", ["info", "--output=json", "--image-opts", `driver=qcow2,file.driver=file,file.filename=${path.replace(/,/g, ",,")}`], {
    reject: false,
  });
  if (info.exitCode !== 0) return null; // QEMU would not open it either
  const parsed = JSON.parse(info.stdout) as { "backing-filename"?: string; "format-specific"?: { data?: { "data-file"?: string } } };
  return { backing: parsed["backing-filename"], dataFile: parsed["format-specific"]?.data?.["data-file"] };
}

describe("no disk image header makes kto hand QEMU another file", () => {
  let dir: string;
  let base: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-disk-fuzz-"));
    await qemuImg("create", "-q", "-f", "qcow2", join(dir, "base.qcow2"), "1M");
    base = await readFile(join(dir, "base.qcow2"));
    // Data files the mutants name exist, so QEMU's reading does not stop at a missing one.
    await writeFile(join(dir, "data.raw"), paddedText("outside"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("the header reader never throws, whatever the bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), (bytes, withMagic) => {
        const head = Buffer.from(bytes);
        if (withMagic && head.length >= 4) head.write("QFI\xfb", 0, "latin1");
        const reading = readQcow2Header(head);
        expect(typeof reading.ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("a mutated header is refused as the config's fault, or names nothing QEMU would open, and QEMU is told to open nothing", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(header, noise, async (fields, bytes) => {
        const path = join(dir, "mutant.qcow2");
        await writeFile(path, crafted(base, fields, bytes));
        const disk = await checkDiskImage(path).catch((error: unknown) => {
          if (!(error instanceof JobInputError) || error.field !== "disk") throw error;
          return null;
        });
        if (disk === null || disk.format === "raw") return;
        accepted++;
        const named = await namedByQemu(path);
        expect(named?.backing).toBeUndefined();
        expect(named?.dataFile).toBeUndefined();
        const args = qemuArgs({ ...vm, disk: { image: disk, overlay: join(dir, "overlay.qcow2") } });
        expect(args.filter((arg) => arg.includes('"backing"'))).toEqual([
          expect.stringContaining('"backing":null'),
          expect.stringContaining('"backing":"disk-image"'),
        ]);
      }),
      { numRuns: 400 },
    );
    // The property says something only if mutants also get through to QEMU's reading.
    expect(accepted).toBeGreaterThan(80);
  });
});
