import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { constants as zlibConstants, gunzipSync } from "node:zlib";
import { spawnProcess } from "./exec.js";

/** The kernel's release string from a bzImage's setup header (`6.1.0-26-amd64`), or null. */
export async function readKernelRelease(path: string): Promise<string | null> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(0x400);
    await handle.read(head, 0, head.length, 0);
    if (head.toString("ascii", 0x202, 0x206) !== "HdrS") return null;
    const pointer = head.readUInt16LE(0x20e);
    if (pointer === 0) return null;
    const text = Buffer.alloc(256);
    await handle.read(text, 0, text.length, pointer + 0x200);
    const version = text.toString("latin1").split("\0")[0] ?? "";
    return version.split(" ")[0] || null;
  } finally {
    await handle.close();
  }
}

async function fileHash(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/**
 * A stripped vmlinux is tens of MiB; the cap keeps a compression bomb passed off as a
 * kernel from taking the host's memory. Checked on the input too, and on how many places
 * that look like a compressed stream are tried.
 */
export const MAX_VMLINUX_BYTES = 256 * 1024 * 1024;
const MAX_PAYLOAD_CANDIDATES = 16;

export type VmlinuxResult = { ok: true; path: string; detail: string } | { ok: false; detail: string };

/**
 * Decompresses a bzImage's payload to its ELF vmlinux once, cached by the bzImage's content
 * hash. Under TCG most of a boot is the guest decompressing itself; an ELF with a PVH entry
 * note boots directly, skipping that and the real-mode setup.
 */
export async function extractVmlinux(bzImage: string, cacheDir: string): Promise<VmlinuxResult> {
  const hash = await fileHash(bzImage);
  const cached = join(cacheDir, `vmlinux-${hash.slice(0, 32)}`);
  // Not cached yet (or the cache unreadable): extracted again.
  if (
    await stat(cached)
      .then((s) => s.size > 0)
      .catch(() => false)
  )
    return { ok: true, path: cached, detail: "cached vmlinux" };

  const size = (await stat(bzImage)).size;
  if (size > MAX_VMLINUX_BYTES) return { ok: false, detail: `the kernel is ${size} bytes, over kto's ${MAX_VMLINUX_BYTES}-byte limit` };
  const image = await readFile(bzImage);
  if (image.subarray(0, 4).equals(ELF_MAGIC)) {
    return hasPvhNote(image)
      ? { ok: true, path: bzImage, detail: "kernel is already an ELF vmlinux" }
      : { ok: false, detail: "ELF kernel without a PVH entry note" };
  }
  const payload = await findElfPayload(image);
  if (!payload) return { ok: false, detail: "no decompressible ELF payload found in the bzImage" };
  const { elf, method } = payload;
  if (!hasPvhNote(elf)) return { ok: false, detail: "vmlinux has no PVH entry note (CONFIG_PVH is off)" };
  await mkdir(cacheDir, { recursive: true });
  const temporary = `${cached}.${process.pid}.tmp`;
  await writeFile(temporary, elf);
  await rename(temporary, cached);
  return { ok: true, path: cached, detail: `vmlinux extracted (${method})` };
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const COMPRESSIONS = [
  { method: "xz", magic: XZ_MAGIC },
  { method: "gzip", magic: GZIP_MAGIC },
  { method: "zstd", magic: ZSTD_MAGIC },
] as const;

/** The setup code does not say where the payload starts: try each magic where it occurs until one decompresses to an ELF. */
async function findElfPayload(image: Buffer): Promise<{ elf: Buffer; method: string } | null> {
  for (const { method, magic } of COMPRESSIONS) {
    let tried = 0;
    for (let at = image.indexOf(magic); at >= 0 && tried++ < MAX_PAYLOAD_CANDIDATES; at = image.indexOf(magic, at + 1)) {
      const elf = await decompress(method, image.subarray(at)).catch(() => null);
      if (elf?.subarray(0, 4).equals(ELF_MAGIC)) return { elf, method };
    }
  }
  return null;
}

async function decompress(method: (typeof COMPRESSIONS)[number]["method"], data: Buffer): Promise<Buffer> {
  // Z_SYNC_FLUSH tolerates the bytes that follow the stream in a bzImage.
  if (method === "gzip") return gunzipSync(data, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: MAX_VMLINUX_BYTES });
  // --single-stream: stop at the end of the first stream and ignore what follows it.
  const [file, args] = method === "xz" ? ["xz", ["-dc", "--single-stream"]] : ["zstd", ["-dc"]];
  // xz exits non-zero on the bzImage's trailing bytes after a good stream: the output decides.
  const result = await spawnProcess(file, args, { input: data, streamCapBytes: MAX_VMLINUX_BYTES }).done;
  if (result.stdout.truncated) throw new Error(`${file} output passed kto's ${MAX_VMLINUX_BYTES}-byte limit`);
  if (result.stdout.data.length === 0) throw new Error(`${file} produced nothing`);
  return result.stdout.data;
}

const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** True when the ELF carries Xen's PHYS32_ENTRY note, the PVH entry QEMU's loader uses. */
export function hasPvhNote(elf: Buffer): boolean {
  if (elf.length < 64 || elf[4] !== 2) return false; // 64-bit only
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    const start = Number(elf.readBigUInt64LE(ph + 8));
    const size = Number(elf.readBigUInt64LE(ph + 32));
    let at = start;
    while (at + 12 <= start + size && at + 12 <= elf.length) {
      const namesz = elf.readUInt32LE(at);
      const descsz = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.toString("ascii", at + 12, at + 12 + Math.max(0, namesz - 1));
      if (name === "Xen" && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      at += 12 + Math.ceil(namesz / 4) * 4 + Math.ceil(descsz / 4) * 4;
    }
  }
  return false;
}
