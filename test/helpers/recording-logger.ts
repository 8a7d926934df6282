import type { Logger } from "../../src/orchestrator/logger.js";

/** Keeps what the orchestrator (or a route) logs, with its cause, for a test to read. */
export class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; err: unknown }[] = [];
  warn(fields: { err?: unknown }, message: string): void {
    this.lines.push({ level: "warn", message, err: fields.err });
  }
  error(fields: { err?: unknown }, message: string): void {
    this.lines.push({ level: "error", message, err: fields.err });
  }
}
