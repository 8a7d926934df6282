/** One output stream of a job, kept byte for byte up to a cap; past it, only counted. */
export interface CapturedOutput {
  data: Buffer;
  /** Every byte the job wrote to this stream, kept or not. */
  totalBytes: number;
  truncated: boolean;
}

export const DEFAULT_STREAM_CAP = 16 * 1024 * 1024;

export class OutputCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private total = 0;

  constructor(private readonly capBytes: number = DEFAULT_STREAM_CAP) {}

  write(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.capBytes - this.kept;
    if (room <= 0) return;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(Buffer.from(part));
    this.kept += part.length;
  }

  get bytesSeen(): number {
    return this.total;
  }

  result(): CapturedOutput {
    return { data: Buffer.concat(this.chunks, this.kept), totalBytes: this.total, truncated: this.total > this.kept };
  }
}

/** The text a person reads: the kept bytes, then an explicit marker when some were dropped. */
export function outputText(output: CapturedOutput): string {
  const text = output.data.toString("utf8");
  if (!output.truncated) return text;
  return `${text}\n[kto: output truncated: kept ${output.data.length} of ${output.totalBytes} bytes]\n`;
}
