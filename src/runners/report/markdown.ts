/**
 * Untrusted text in Markdown (test names and failure reasons from a job's output, job
 * names from a pull request's config) kept in the place it is put. CommonMark closes a
 * fenced block at a line of at least as many backticks as opened it, and a code span at
 * exactly as many, so each fence here is longer than any run of backticks inside it. A
 * line break in inline text could start a fence or a heading that takes over the rest of
 * the page, so inline text is kept to one line.
 */

// CommonMark's line endings: a lone carriage return ends a line too.
const LINE_BREAK = /\r\n|\r|\n/g;

function longestBacktickRun(text: string): number {
  return Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
}

/** Text on one line, for a heading, a list item or a link. */
export function inlineText(text: string): string {
  return text.replace(LINE_BREAK, " ");
}

/**
 * Text that renders as itself: one line, every character Markdown or HTML could take as
 * syntax (a link, an image, emphasis, a tag that closes a `<details>`) escaped.
 */
export function plainText(text: string): string {
  return inlineText(text).replace(/[\\`*_[\]()<>!#|~&]/g, "\\$&");
}

/** A table cell: one line, and a `|` that does not end the cell. */
export function tableCell(text: string): string {
  return inlineText(text).replace(/\|/g, "\\|");
}

/** A code span that nothing inside can close early. */
export function codeSpan(text: string): string {
  const flat = inlineText(text);
  const ticks = "`".repeat(longestBacktickRun(flat) + 1);
  // A backtick at either end would join the delimiter; CommonMark strips one space on each side.
  const pad = flat.startsWith("`") || flat.endsWith("`") ? " " : "";
  return `${ticks}${pad}${flat}${pad}${ticks}`;
}

/** A fenced code block, each line after `indent` (a list item's, to stay inside it). */
export function fencedBlock(text: string, indent = ""): string {
  const fence = "`".repeat(Math.max(3, longestBacktickRun(text) + 1));
  return [fence, ...text.split(LINE_BREAK), fence].map((line) => `${indent}${line}`).join("\n");
}

/** A link to a path of the results folder, whatever characters the path's file names hold. */
export function pathLink(text: string, path: string): string {
  const target = encodeURI(path).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `[${inlineText(text).replace(/[[\]\\]/g, "\\$&")}](${target})`;
}

/**
 * A link to a web page named by config (a known issue's report): http(s) only, its
 * parentheses, brackets and angle brackets percent-encoded so that none ends the link early.
 * Anything else is shown as plain text, never as a link.
 */
export function webLink(text: string, url: string): string {
  if (!/^https?:\/\/[^\s]+$/i.test(url)) return plainText(`${text} (${url})`);
  const target = url.replace(/[()<>[\]"'`\\]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
  return `[${inlineText(text).replace(/[[\]\\]/g, "\\$&")}](${target})`;
}
