import { open, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { JobInputError } from "./errors.js";
import { emptyQcow2, hasQcow2Magic, MAX_CLUSTER_BYTES, MAX_QCOW2_VIRTUAL_BYTES, readQcow2Header } from "./qcow2.js";

declare const checked: unique symbol;

/**
 * A suite's disk image whose header kto has read: its format, told by its bytes, and its
 * size. Only `checkDiskImage` makes one, and only for an image that names no other file,
 * so QEMU is never handed an image that reaches past itself.
 */
export interface CheckedDisk {
  readonly path: string;
  readonly format: "qcow2" | "raw";
  readonly virtualBytes: number;
  readonly [checked]: true;
}

const FIELD = "disk";
const FLATTEN = "kto attaches an image alone: flatten it first (qemu-img convert -O qcow2 <image> <flat image>)";

/** A name from an image, short and printable enough for an error message. */
function quoted(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
}

/**
 * Reads the image at `path` (already confined) and refuses, as the config's fault, one that
 * names a backing file or an external data file, is encrypted, or has a header kto cannot
 * read. Reads at most the header's largest cluster, whatever the file's size.
 */
export async function checkDiskImage(path: string): Promise<CheckedDisk> {
  const refuse = (detail: string) => new JobInputError(FIELD, path, detail);
  const file = await open(path, "r");
  let head: Buffer;
  let fileBytes: number;
  try {
    fileBytes = (await file.stat()).size;
    head = Buffer.alloc(Math.min(fileBytes, MAX_CLUSTER_BYTES));
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
  const disk = (format: CheckedDisk["format"], virtualBytes: bigint) => {
    // The guest's writes go to a qcow2 overlay of the same size, and qcow2 has a limit.
    if (virtualBytes > BigInt(MAX_QCOW2_VIRTUAL_BYTES)) throw refuse(`a disk of ${virtualBytes} bytes, more than a qcow2 overlay can cover`);
    return { path, format, virtualBytes: Number(virtualBytes) } as CheckedDisk;
  };
  if (!hasQcow2Magic(head)) return disk("raw", BigInt(fileBytes));

  const reading = readQcow2Header(head);
  if (!reading.ok) throw refuse(`a qcow2 header kto cannot read: ${reading.detail}`);
  const { header } = reading;
  if (header.backingFile !== null) throw refuse(`a qcow2 image that names a backing file (${quoted(header.backingFile)}); ${FLATTEN}`);
  if (header.dataFile.flagged || header.dataFile.name !== null) {
    const name = header.dataFile.name === null ? "its name missing" : quoted(header.dataFile.name);
    throw refuse(`a qcow2 image that names an external data file (${name}); ${FLATTEN}`);
  }
  if (header.encrypted) throw refuse("an encrypted qcow2 image, which kto has no key for");
  return disk("qcow2", header.virtualBytes);
}

/**
 * Where the guest's writes to `disk` go: an empty qcow2 in `dir` (the job's scratch
 * directory) of the disk's size, so the user's image is never written.
 */
export async function writeDiskOverlay(disk: CheckedDisk, dir: string): Promise<string> {
  const overlay = join(dir, "disk-overlay.qcow2");
  await writeFile(overlay, emptyQcow2(disk.virtualBytes));
  return overlay;
}
