import { createLogUpdate } from "log-update";
import { logLine, type Logger } from "../orchestrator/logger.js";
import { terminalText } from "../runners/report/terminal-text.js";

/*
 * The CLI's one way to print. Names, reasons and messages in its output come from test
 * results, configs, the store and the App, and a terminal obeys the escape sequences they
 * may hold; everything written passes terminalText. kto's own display (the live table's
 * redrawing) is added by log-update after its text has passed.
 */

export function printOut(text: string): void {
  process.stdout.write(terminalText(text));
}

export function printErr(text: string): void {
  process.stderr.write(terminalText(text));
}

/** Whether stderr is a terminal, where the live table can be drawn. */
export function stderrIsTerminal(): boolean {
  return process.stderr.isTTY === true;
}

/** A region of stderr redrawn in place: the live job table. */
export interface LiveRegion {
  update(text: string): void;
  done(): void;
}

export function liveRegion(): LiveRegion {
  const logUpdate = createLogUpdate(process.stderr);
  return { update: (text) => logUpdate(terminalText(text)), done: () => logUpdate.done() };
}

/** The orchestrator's background failures, on stderr, made inert like everything else printed. */
export const terminalLogger: Logger = {
  warn: (fields, message) => printErr(logLine("warning", fields, message)),
  error: (fields, message) => printErr(logLine("error", fields, message)),
};
