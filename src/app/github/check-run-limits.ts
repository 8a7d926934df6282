/**
 * What GitHub accepts in a check run's output, from its REST documentation: a summary or
 * text of at most 65,535 bytes (GitHub counts its "maximum bytesize" in UTF-8, so a summary
 * in another script or with emoji holds fewer characters), an annotation title of 255
 * characters (code points), a message of 64 KB (bytes). Anything longer is refused with 422 and the check run
 * never appears, so kto cuts it and says that it did.
 */
export const SUMMARY_LIMIT = 65_535;
export const ANNOTATION_TITLE_LIMIT = 255;
export const ANNOTATION_MESSAGE_LIMIT = 64 * 1024;

/** `text` within `limit` bytes of UTF-8, ending with a note of how much was cut. */
export function withinLimit(text: string, limit: number, where = "the full text is in the job's results"): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= limit) return text;
  // The note's own length depends on the count it names: leave room for the widest.
  const note = (cut: number) => `\n\n… ${cut} more bytes cut (GitHub's limit); ${where}.`;
  // Streaming, a (new) decoder holds back a character cut in half instead of making it U+FFFD.
  const kept = new TextDecoder().decode(bytes.subarray(0, limit - Buffer.byteLength(note(bytes.length))), { stream: true });
  return kept + note(bytes.length - Buffer.byteLength(kept));
}

/**
 * `text` within `limit` characters (code points, as GitHub counts its "255 characters"; a
 * character outside the BMP is one, not two), ending with "…" when cut, never inside a
 * surrogate pair.
 */
export function withinChars(text: string, limit: number): string {
  // Few texts come near a limit: spread into code points only those that might pass it.
  if (text.length <= limit) return text;
  const chars = [...text];
  return chars.length <= limit ? text : `${chars.slice(0, limit - 1).join("")}…`;
}

/** `text` within `limit` bytes of UTF-8, ending with "…" when cut, never inside a character. */
export function withinBytes(text: string, limit: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= limit) return text;
  return `${new TextDecoder().decode(bytes.subarray(0, limit - Buffer.byteLength("…")), { stream: true })}…`;
}

/**
 * A check run's title. GitHub documents no limit for it; kto keeps it to 200 characters,
 * which the checks page shows whole.
 */
export const OUTPUT_TITLE_LIMIT = 200;

export function outputTitle(title: string): string {
  return withinChars(title, OUTPUT_TITLE_LIMIT);
}

export function annotationTitle(title: string): string {
  return withinChars(title, ANNOTATION_TITLE_LIMIT);
}

export function annotationMessage(message: string): string {
  return withinLimit(message, ANNOTATION_MESSAGE_LIMIT);
}
