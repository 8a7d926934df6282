import { readFile, writeFile } from "node:fs/promises";
import { execa } from "execa";

/** qemu-img (qemu-utils): images made the way users make them. */
export async function qemuImg(...args: string[]): Promise<string> {
  return (await execa("qemu-img", args)).stdout;
}

/** A file of `bytes` bytes that starts with `text`, zeros after. */
export function paddedText(text: string, bytes = 1024 * 1024): Buffer {
  return Buffer.concat([Buffer.from(text), Buffer.alloc(bytes - Buffer.byteLength(text))]);
}

/**
 * A qcow2 whose header names `name` as its backing file, written in by hand: qemu-img
 * refuses to make some of these (a `json:` name), and an attacker does not need it to.
 */
export async function qcow2NamingBacking(path: string, name: string): Promise<void> {
  await qemuImg("create", "-q", "-f", "qcow2", path, "1M");
  const image = await readFile(path);
  // Past the header extensions qemu-img writes (they end before 0x200), inside the header cluster.
  const at = 0x400;
  image.write(name, at, "latin1");
  image.writeBigUInt64BE(BigInt(at), 8);
  image.writeUInt32BE(Buffer.byteLength(name, "latin1"), 16);
  await writeFile(path, image);
}
