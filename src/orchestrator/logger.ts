/**
 * Where the orchestrator says that something it does in the background failed: a queue
 * pass, a delivery, a health check. Probot's logger (pino) is one; `kto run` writes to
 * stderr. Nothing the orchestrator does may fail in silence.
 */
export interface Logger {
  warn(fields: { err?: unknown; [key: string]: unknown }, message: string): void;
  error(fields: { err?: unknown; [key: string]: unknown }, message: string): void;
}

/** A log line as a terminal shows it; a caller that prints it to a terminal makes it inert first. */
export function logLine(level: string, fields: { err?: unknown }, message: string): string {
  const cause = fields.err instanceof Error ? fields.err.message : fields.err === undefined ? "" : String(fields.err);
  return `kto: ${level}: ${message}${cause ? `: ${cause}` : ""}\n`;
}

/**
 * For a service built without a logger (tests, benchmarks). What the App and `kto run`
 * build pass their own: Probot's, and the CLI's, which makes a job name's escape sequences
 * inert before a terminal sees them.
 */
export const stderrLogger: Logger = {
  warn: (fields, message) => void process.stderr.write(logLine("warning", fields, message)),
  error: (fields, message) => void process.stderr.write(logLine("error", fields, message)),
};
