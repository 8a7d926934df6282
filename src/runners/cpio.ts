/** One member of a newc archive, the format the kernel unpacks as an initramfs. */
export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Buffer; mode?: number }
  | { kind: "symlink"; path: string; target: string };

const TRAILER = "TRAILER!!!";

function header(fields: number[]): Buffer {
  const hex = fields.map((value) => (value >>> 0).toString(16).padStart(8, "0")).join("");
  return Buffer.from(`070701${hex}`, "ascii");
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/**
 * Writes a newc ("070701") cpio archive. Archives concatenate: the kernel unpacks each in
 * turn, so a cached base image plus a small per-job archive make one initramfs.
 */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (path: string, mode: number, data: Buffer) => {
    const name = Buffer.from(`${path}\0`, "utf8");
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const fields = [ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const head = header(fields);
    parts.push(head, name, pad4(head.length + name.length), data, pad4(data.length));
  };
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, "");
    switch (entry.kind) {
      case "dir":
        add(path, 0o040000 | (entry.mode ?? 0o755), Buffer.alloc(0));
        break;
      case "file":
        add(path, 0o100000 | (entry.mode ?? 0o644), entry.data);
        break;
      case "symlink":
        add(path, 0o120000 | 0o777, Buffer.from(entry.target, "utf8"));
        break;
    }
  }
  add(TRAILER, 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/** Reads a newc archive back; used by tests and by `kto` to check a user's initramfs. */
export function readCpio(archive: Buffer): CpioEntry[] {
  const entries: CpioEntry[] = [];
  let offset = 0;
  while (offset + 110 <= archive.length) {
    const magic = archive.toString("ascii", offset, offset + 6);
    if (magic !== "070701" && magic !== "070702") break;
    const field = (i: number) => parseInt(archive.toString("ascii", offset + 6 + i * 8, offset + 14 + i * 8), 16);
    const mode = field(1);
    const fileSize = field(6);
    const nameSize = field(11);
    const nameStart = offset + 110;
    const name = archive.toString("utf8", nameStart, nameStart + nameSize - 1);
    let dataStart = nameStart + nameSize;
    dataStart += (4 - (dataStart % 4)) % 4;
    const data = archive.subarray(dataStart, dataStart + fileSize);
    offset = dataStart + fileSize;
    offset += (4 - (offset % 4)) % 4;
    if (name === TRAILER) {
      // Concatenated archives: skip zero padding up to the next magic.
      while (offset < archive.length && archive[offset] === 0) offset += 1;
      continue;
    }
    const type = mode & 0o170000;
    if (type === 0o040000) entries.push({ kind: "dir", path: name, mode: mode & 0o7777 });
    else if (type === 0o120000) entries.push({ kind: "symlink", path: name, target: data.toString("utf8") });
    else entries.push({ kind: "file", path: name, data: Buffer.from(data), mode: mode & 0o7777 });
  }
  return entries;
}
