import { basename } from "node:path";
import { constants } from "node:os";

const SIGNAL_VERBS: Record<string, string> = { SIGABRT: "aborted", SIGSEGV: "crashed", SIGKILL: "was killed", SIGBUS: "crashed", SIGILL: "crashed" };

function signalName(signal: string | number | null): string | null {
  if (signal === null) return null;
  if (typeof signal === "string") return signal;
  return Object.entries(constants.signals).find(([, number]) => number === signal)?.[0] ?? `signal ${signal}`;
}

/**
 * QEMU's own words for why it stopped: its first `error:` line, else its last line, with
 * the `qemu-system-x86_64: ` prefix gone (the message names the binary already).
 */
export function qemuStderrLine(stderr: string): string | null {
  const lines = stderr
    .split("\n")
    .map((line) => line.replace(/^qemu-system-[\w-]+:\s*/, "").trim())
    .filter((line) => line && !line.startsWith("terminating on signal"));
  return lines.find((line) => /^error:/i.test(line))?.replace(/^error:\s*/i, "") ?? lines.at(-1) ?? null;
}

/** "qemu-system-x86_64 aborted (SIGABRT): failed to set MSR 0x10a to 0x69", never "exited with null". */
export function describeQemuEnd(binary: string, end: { exitCode: number | null; signal: string | number | null; stderr: string }): string {
  const name = basename(binary);
  const signal = signalName(end.signal);
  const how = signal ? `${SIGNAL_VERBS[signal] ?? "was stopped"} (${signal})` : `exited with status ${end.exitCode ?? "unknown"}`;
  const said = qemuStderrLine(end.stderr);
  return said ? `${name} ${how}: ${said}` : `${name} ${how} and printed nothing on stderr`;
}

/** Whether the guest printed anything at all: firmware escape sequences and blank lines do not count. */
export function guestPrinted(consoleText: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /\S/.test(consoleText.replace(/\x1b(?:\[[0-9;?]*[A-Za-z]|c|\(B)/g, "").replace(/[\x00-\x1f]/g, " "));
}
