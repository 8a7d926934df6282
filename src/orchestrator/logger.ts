import { terminalText } from "../runners/report/terminal-text.js";

/**
 * Where the orchestrator says that something it does in the background failed: a queue
 * pass, a delivery, a health check. Probot's logger (pino) is one; `kto run` writes to
 * stderr. Nothing the orchestrator does may fail in silence.
 */
export interface Logger {
  warn(fields: { err?: unknown; [key: string]: unknown }, message: string): void;
  error(fields: { err?: unknown; [key: string]: unknown }, message: string): void;
}

function line(level: string, fields: { err?: unknown }, message: string): string {
  const cause = fields.err instanceof Error ? fields.err.message : fields.err === undefined ? "" : String(fields.err);
  // A job's name or a runner's message may hold escape sequences for the terminal that shows this.
  return terminalText(`kto: ${level}: ${message}${cause ? `: ${cause}` : ""}\n`);
}

export const stderrLogger: Logger = {
  warn: (fields, message) => void process.stderr.write(line("warning", fields, message)),
  error: (fields, message) => void process.stderr.write(line("error", fields, message)),
};
