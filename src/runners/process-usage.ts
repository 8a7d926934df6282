import { readFile } from "node:fs/promises";

const CLOCK_TICKS_PER_SECOND = 100;

/** Samples /proc for a process's CPU time and peak RSS (VmHWM never goes down, so the last sample is the peak). */
export class ProcessUsage {
  cpuMs: number | null = null;
  memoryPeakBytes: number | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.timer = setInterval(() => void this.sample(), 200);
    void this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    // The process has ended (or was never readable): this sample is skipped, the last one stands.
    const [status, stat] = await Promise.all([
      readFile(`/proc/${this.pid}/status`, "utf8").catch(() => null),
      readFile(`/proc/${this.pid}/stat`, "utf8").catch(() => null),
    ]);
    const hwm = status ? /VmHWM:\s+(\d+) kB/.exec(status) : null;
    if (hwm) this.memoryPeakBytes = Math.max(this.memoryPeakBytes ?? 0, Number(hwm[1]) * 1024);
    if (stat) {
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
      if (Number.isFinite(ticks)) this.cpuMs = Math.max(this.cpuMs ?? 0, Math.round((ticks * 1000) / CLOCK_TICKS_PER_SECOND));
    }
  }
}
