/**
 * What GitHub accepts in a check run's output, from its REST documentation: a summary or
 * text of at most 65,535 bytes (GitHub counts its "maximum bytesize" in UTF-8, so a summary
 * in another script or with emoji holds fewer characters), an annotation title of 255
 * characters, a message of 64 KB. Anything longer is refused with 422 and the check run
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

export function annotationTitle(title: string): string {
  return title.length <= ANNOTATION_TITLE_LIMIT ? title : `${title.slice(0, ANNOTATION_TITLE_LIMIT - 1)}…`;
}

export function annotationMessage(message: string): string {
  return withinLimit(message, ANNOTATION_MESSAGE_LIMIT);
}
