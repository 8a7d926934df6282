// CSI, OSC and two-byte escapes: SeaBIOS and terminals put these before the first guest line.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_c]/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;

/** Splits console output into clean lines: escapes, carriage returns and stray control bytes removed. */
export function consoleLines(text: string): string[] {
  return text.split("\n").map((line) => line.replace(ESCAPES, "").replace(/\r/g, "").replace(CONTROL, ""));
}
