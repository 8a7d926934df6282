/**
 * The parts of the qcow2 format (QEMU's docs/interop/qcow2.txt) kto needs: reading what a
 * header names besides itself, the way QEMU reads it, and writing an empty image.
 */

const MAGIC = Buffer.from("QFI\xfb", "latin1");
const MIN_CLUSTER_BITS = 9;
/** QEMU opens no image with larger clusters, so the header and its extensions fit in this many bytes. */
export const MAX_CLUSTER_BYTES = 2 * 1024 * 1024;
const V2_HEADER_BYTES = 72;
const V3_HEADER_BYTES = 104;
const INCOMPATIBLE_DATA_FILE = 1n << 2n;
const EXTENSION_END = 0;
const EXTENSION_DATA_FILE = 0x44415441;

export interface Qcow2Header {
  virtualBytes: bigint;
  /** The backing file the header names, as far as it lies in the header's cluster; null when it names none. */
  backingFile: string | null;
  /** The external data file: the feature bit set, or its name in a header extension. */
  dataFile: { flagged: boolean; name: string | null };
  encrypted: boolean;
}

export type Qcow2Reading = { ok: true; header: Qcow2Header } | { ok: false; detail: string };

export function hasQcow2Magic(head: Buffer): boolean {
  return head.length >= MAGIC.length && head.subarray(0, MAGIC.length).equals(MAGIC);
}

/**
 * Reads a qcow2 header from the first bytes of an image (at most MAX_CLUSTER_BYTES; fewer
 * when the file is shorter). Bytes past the end read as zeros, as QEMU reads them; header
 * extensions are walked with QEMU's bounds, so an image QEMU would open names nothing
 * that this misses.
 */
export function readQcow2Header(head: Buffer): Qcow2Reading {
  const garbled = (detail: string): Qcow2Reading => ({ ok: false, detail });
  if (!hasQcow2Magic(head)) return garbled("no qcow2 magic");
  if (head.length < V2_HEADER_BYTES) return garbled(`truncated: ${head.length} bytes, where a qcow2 header has at least ${V2_HEADER_BYTES}`);
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) return garbled(`version ${version}, where qcow2 has 2 and 3`);
  const clusterBits = head.readUInt32BE(20);
  const clusterBytes = 2 ** clusterBits;
  if (clusterBits < MIN_CLUSTER_BITS || clusterBytes > MAX_CLUSTER_BYTES) return garbled(`cluster_bits ${clusterBits}, outside ${MIN_CLUSTER_BITS}..21`);
  if (version === 3 && head.length < V3_HEADER_BYTES) return garbled(`truncated: ${head.length} bytes, where a version 3 header has ${V3_HEADER_BYTES}`);
  const cluster = Buffer.alloc(clusterBytes);
  head.copy(cluster, 0, 0, clusterBytes);

  const headerBytes = version === 3 ? cluster.readUInt32BE(100) : V2_HEADER_BYTES;
  if (version === 3 && (headerBytes < V3_HEADER_BYTES || headerBytes > clusterBytes))
    return garbled(`header_length ${headerBytes}, outside ${V3_HEADER_BYTES}..${clusterBytes}`);
  const backingOffset = cluster.readBigUInt64BE(8);
  const backingBytes = cluster.readUInt32BE(16);
  if (backingOffset > BigInt(clusterBytes)) return garbled(`backing_file_offset ${backingOffset}, past the header's ${clusterBytes}-byte cluster`);
  const backingStart = Number(backingOffset);
  const backingFile = backingOffset === 0n && backingBytes === 0 ? null : text(cluster, backingStart, backingBytes);

  // QEMU reads extensions up to the backing file's name, or to the end of the cluster.
  const extensions = readExtensions(cluster, headerBytes, backingStart === 0 ? clusterBytes : backingStart);
  if (!extensions.ok) return garbled(extensions.detail);
  const incompatible = version === 3 ? cluster.readBigUInt64BE(72) : 0n;
  return {
    ok: true,
    header: {
      virtualBytes: cluster.readBigUInt64BE(24),
      backingFile,
      dataFile: { flagged: (incompatible & INCOMPATIBLE_DATA_FILE) !== 0n, name: extensions.dataFile },
      encrypted: cluster.readUInt32BE(32) !== 0,
    },
  };
}

function readExtensions(cluster: Buffer, start: number, end: number): { ok: true; dataFile: string | null } | { ok: false; detail: string } {
  let dataFile: string | null = null;
  let offset = start;
  while (offset < end) {
    if (offset + 8 > end) return { ok: false, detail: `a header extension at byte ${offset} runs past the header's end (byte ${end})` };
    const type = cluster.readUInt32BE(offset);
    const length = cluster.readUInt32BE(offset + 4);
    offset += 8;
    if (length > end - offset) return { ok: false, detail: `header extension 0x${type.toString(16)} is ${length} bytes, past the header's end (byte ${end})` };
    if (type === EXTENSION_END) break;
    if (type === EXTENSION_DATA_FILE) dataFile = text(cluster, offset, length);
    offset += Math.ceil(length / 8) * 8;
  }
  return { ok: true, dataFile };
}

function text(cluster: Buffer, start: number, bytes: number): string {
  return cluster.subarray(start, Math.min(cluster.length, start + bytes)).toString("latin1");
}

const OVERLAY_CLUSTER_BITS = 16;
const OVERLAY_CLUSTER_BYTES = 2 ** OVERLAY_CLUSTER_BITS;
/** Guest bytes one L1 entry maps: a cluster of 8-byte L2 entries, each mapping a cluster. */
const BYTES_PER_L1_ENTRY = (OVERLAY_CLUSTER_BYTES / 8) * OVERLAY_CLUSTER_BYTES;
/** QEMU's limit on an active L1 table (QCOW_MAX_L1_SIZE), in entries. */
const MAX_L1_ENTRIES = (32 * 1024 * 1024) / 8;
/** The largest disk an empty image from `emptyQcow2` can stand for. */
export const MAX_QCOW2_VIRTUAL_BYTES = MAX_L1_ENTRIES * BYTES_PER_L1_ENTRY;

/**
 * An empty version 3 qcow2 of `virtualBytes` (rounded up to a 512-byte sector), laid out
 * as qemu-img lays one out: header, refcount table, one refcount block, L1 table. It names
 * no other file; whatever backs it is given to QEMU on its command line.
 */
export function emptyQcow2(virtualBytes: number): Buffer {
  if (!Number.isSafeInteger(virtualBytes) || virtualBytes < 0 || virtualBytes > MAX_QCOW2_VIRTUAL_BYTES)
    throw new RangeError(`a qcow2 image of ${virtualBytes} bytes is more than kto makes`);
  const bytes = Math.ceil(virtualBytes / 512) * 512;
  const l1Entries = Math.ceil(bytes / BYTES_PER_L1_ENTRY);
  const l1Clusters = Math.ceil((l1Entries * 8) / OVERLAY_CLUSTER_BYTES);
  const clusters = 3 + l1Clusters;
  const image = Buffer.alloc(clusters * OVERLAY_CLUSTER_BYTES);
  MAGIC.copy(image, 0);
  image.writeUInt32BE(3, 4);
  image.writeUInt32BE(OVERLAY_CLUSTER_BITS, 20);
  image.writeBigUInt64BE(BigInt(bytes), 24);
  image.writeUInt32BE(l1Entries, 36);
  if (l1Entries > 0) image.writeBigUInt64BE(BigInt(3 * OVERLAY_CLUSTER_BYTES), 40); // L1 table
  image.writeBigUInt64BE(BigInt(OVERLAY_CLUSTER_BYTES), 48); // refcount table
  image.writeUInt32BE(1, 56); // refcount table clusters
  image.writeUInt32BE(4, 96); // refcount_order: 16-bit refcounts
  image.writeUInt32BE(112, 100); // header_length, with the compression type (zlib) and padding
  image.writeBigUInt64BE(BigInt(2 * OVERLAY_CLUSTER_BYTES), OVERLAY_CLUSTER_BYTES); // the refcount block
  for (let index = 0; index < clusters; index++) image.writeUInt16BE(1, 2 * OVERLAY_CLUSTER_BYTES + 2 * index);
  return image;
}
