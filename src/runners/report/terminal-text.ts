/**
 * Text that came from results, a config, the store or another service, made inert for a
 * terminal. A terminal acts on control characters: ESC and the C1 controls (8-bit CSI,
 * OSC, DCS and the rest) open sequences that move the cursor, rewrite the screen, set the
 * window title or write the clipboard (OSC 52); a carriage return or a backspace lets
 * text overwrite what was printed before it. Each of them is shown as a `\u001b`-style
 * escape instead, so a sequence is seen, not run. That notation is also an escape JSON
 * reads, so JSON output stays JSON. Newlines and tabs are kept: they only lay text out.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

export function terminalText(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A value printed in a one-line slot (a name in a list or a table): its line breaks are shown, not followed. */
export function oneLine(text: string): string {
  return terminalText(text.replace(/\r\n|\r|\n/g, "\\n"));
}
