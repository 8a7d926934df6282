import { formatDuration } from "../config/duration.js";
import { formatSize } from "../config/size.js";
import type { JobSpec } from "../config/job-spec.js";
import { oneLine } from "../runners/report/terminal-text.js";
import type { ProgressEvent, RunResult } from "../runners/types.js";
import { liveRegion, printErr } from "./terminal.js";

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const MARK: Record<RunResult["status"], string> = { succeeded: "✔", failed: "✘", timed_out: "⏱", cancelled: "⊘", errored: "⚠", skipped: "↷" };

interface Row {
  job: JobSpec;
  phase: string;
  /** Output seen so far: a build's log grows for minutes while its phase stays the same. */
  bytes: number;
  started?: number;
  result?: RunResult;
}

function resultLine(result: RunResult): string {
  const tests = result.results ? `, ${result.results.counts.passed}/${result.results.counts.total} tests passed` : "";
  const boot = result.boot ? `, ${result.boot.path} boot` : "";
  return `${result.status} in ${formatDuration(result.durationMs)}${tests}${boot}${result.status === "succeeded" ? "" : `: ${oneLine(result.reason.split("\n")[0]!)}`}`;
}

/** Live job table on a terminal; one plain line per change everywhere else (CI logs, pipes). */
export class ProgressView {
  private readonly rows = new Map<string, Row>();
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private stopped = false;
  private readonly region = liveRegion();

  constructor(
    jobs: readonly JobSpec[],
    private readonly live: boolean,
    private readonly write: (line: string) => void = (line) => printErr(`${line}\n`),
  ) {
    for (const job of jobs) this.rows.set(job.id, { job, phase: "queued", bytes: 0 });
    if (live) this.timer = setInterval(() => this.render(), 100);
  }

  started(jobId: string): void {
    const row = this.rows.get(jobId);
    if (!row) return;
    row.phase = "starting";
    row.started = Date.now();
    row.bytes = 0;
    row.result = undefined;
    if (!this.live) this.write(`kto: ${oneLine(jobId)}: started (${row.job.runner})`);
  }

  event(event: ProgressEvent): void {
    const row = this.rows.get(event.jobId);
    if (row && event.kind === "output") row.bytes += event.bytes;
    if (!row || event.kind !== "phase" || row.phase === event.phase) return;
    row.phase = event.phase;
    if (!this.live) this.write(`kto: ${oneLine(row.job.id)}: ${event.phase}`);
  }

  finished(jobId: string, result: RunResult): void {
    const row = this.rows.get(jobId);
    if (!row) return;
    row.result = result;
    if (!this.live) this.write(`kto: ${oneLine(jobId)}: ${resultLine(result)}`);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.live) {
      this.render();
      this.region.done();
    }
  }

  private render(): void {
    this.frame += 1;
    const width = Math.max(...[...this.rows.values()].map((r) => oneLine(r.job.id).length));
    const lines = [...this.rows.values()].map((row) => {
      const name = oneLine(row.job.id).padEnd(width);
      if (row.result) return `${MARK[row.result.status]} ${name}  ${resultLine(row.result)}`;
      if (!row.started) return `· ${name}  queued`;
      const spinner = SPINNER[this.frame % SPINNER.length];
      const output = row.job.runner === "build" && row.bytes > 0 ? `, ${formatSize(row.bytes)} of log` : "";
      return `${spinner} ${name}  ${row.phase} ${formatDuration(Date.now() - row.started)}${output}`;
    });
    this.region.update(lines.join("\n"));
  }
}
