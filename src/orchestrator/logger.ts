/**
 * Where the orchestrator says that something it does in the background failed: a queue
 * pass, a delivery, a health check. Probot's logger (pino) is one; `kto run` writes to
 * stderr. Nothing the orchestrator does may fail in silence.
 */
export interface Logger {
  warn(fields: { err?: unknown; [key: string]: unknown }, message: string): void;
  error(fields: { err?: unknown; [key: string]: unknown }, message: string): void;
}

/**
 * An error's message followed by its causes', outermost first ("fetch failed: connect
 * ECONNREFUSED 10.0.0.7:443"): the message alone often names only the layer that gave up.
 * A cause whose message is already there adds nothing (Octokit's error for a failed fetch
 * takes its message from the cause of its cause).
 */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let at: unknown = error; at !== undefined && at !== null && !seen.has(at); at = at instanceof Error ? at.cause : undefined) {
    seen.add(at);
    const text = at instanceof Error ? at.message : String(at);
    if (text !== "" && !parts.some((part) => part.includes(text))) parts.push(text);
  }
  return parts.join(": ");
}

/** A log line as a terminal shows it; a caller that prints it to a terminal makes it inert first. */
export function logLine(level: string, fields: { err?: unknown }, message: string): string {
  const cause = fields.err === undefined ? "" : errorText(fields.err);
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
