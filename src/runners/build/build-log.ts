import { writeFile } from "node:fs/promises";

/** What of a build log is kept: its first MiB (where configuration problems show) and its last 7 (where the build stopped). */
export const BUILD_LOG_HEAD_BYTES = 1024 * 1024;
export const BUILD_LOG_TAIL_BYTES = 7 * 1024 * 1024;
/** A longer line is cut here: a diagnostic is never this long, a minified blob printed by a script may be. */
export const MAX_LOG_LINE_BYTES = 64 * 1024;

/**
 * A build's output kept within a fixed size, however much the build prints: the head and
 * the tail byte for byte, the middle only counted, so a runaway log can fill neither the
 * memory nor the disk.
 */
export class BoundedLog {
  private readonly head: Buffer[] = [];
  private headKept = 0;
  private tail: Buffer[] = [];
  private tailKept = 0;
  private total = 0;

  constructor(
    private readonly headBytes = BUILD_LOG_HEAD_BYTES,
    private readonly tailBytes = BUILD_LOG_TAIL_BYTES,
  ) {}

  write(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    const headRoom = this.headBytes - this.headKept;
    if (headRoom > 0) {
      const part = rest.subarray(0, headRoom);
      this.head.push(Buffer.from(part));
      this.headKept += part.length;
      rest = rest.subarray(part.length);
    }
    if (rest.length === 0) return;
    this.tail.push(Buffer.from(rest.subarray(Math.max(0, rest.length - this.tailBytes))));
    this.tailKept += Math.min(rest.length, this.tailBytes);
    // Drop whole chunks first, then trim the oldest one: each byte is copied a bounded number of times.
    while (this.tailKept - this.tail[0]!.length >= this.tailBytes) this.tailKept -= this.tail.shift()!.length;
    if (this.tailKept > this.tailBytes) {
      const over = this.tailKept - this.tailBytes;
      this.tail[0] = this.tail[0]!.subarray(over);
      this.tailKept -= over;
    }
  }

  get bytesSeen(): number {
    return this.total;
  }

  get truncated(): boolean {
    return this.total > this.headKept + this.tailKept;
  }

  /** The kept bytes, with a line saying how much was left out between head and tail. */
  contents(): Buffer {
    const dropped = this.total - this.headKept - this.tailKept;
    const marker = dropped > 0 ? [Buffer.from(`\n[kto: ${dropped} bytes of the build log left out here]\n`)] : [];
    return Buffer.concat([...this.head, ...marker, ...this.tail]);
  }

  async writeTo(path: string): Promise<void> {
    await writeFile(path, this.contents());
  }
}

/** Cuts a byte stream into lines, each at most `maxBytes` (the rest of a longer line is dropped). */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overlong = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxBytes = MAX_LOG_LINE_BYTES,
  ) {}

  write(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      this.keep(chunk.subarray(start, newline));
      this.emit();
      start = newline + 1;
    }
    this.keep(chunk.subarray(start));
  }

  /** Emits the last line when it had no newline. */
  end(): void {
    if (this.pendingBytes > 0 || this.overlong) this.emit();
  }

  private keep(part: Buffer): void {
    const room = this.maxBytes - this.pendingBytes;
    if (part.length > room) this.overlong = true;
    const kept = part.subarray(0, Math.max(0, room));
    if (kept.length === 0) return;
    this.pending.push(kept);
    this.pendingBytes += kept.length;
  }

  private emit(): void {
    const line = Buffer.concat(this.pending, this.pendingBytes).toString("utf8").replace(/\r$/, "");
    this.pending = [];
    this.pendingBytes = 0;
    this.overlong = false;
    this.onLine(line);
  }
}
