/**
 * What GitHub accepts in a check run's output, from its REST documentation: a summary or
 * text of at most 65,535 characters, an annotation title of 255, a message of 64 KB.
 * Anything longer is refused with 422 and the check run never appears, so kto cuts it
 * and says that it did.
 */
export const SUMMARY_LIMIT = 65_535;
export const ANNOTATION_TITLE_LIMIT = 255;
export const ANNOTATION_MESSAGE_LIMIT = 64 * 1024;

/** `text` within `limit` characters, ending with a note of how much was cut. */
export function withinLimit(text: string, limit: number, where = "the full text is in the job's results"): string {
  if (text.length <= limit) return text;
  // The note's own length depends on the count it names: leave room for the widest.
  const note = (cut: number) => `\n\n… ${cut} more characters cut (GitHub's limit); ${where}.`;
  const keep = limit - note(text.length).length;
  return text.slice(0, keep) + note(text.length - keep);
}

export function annotationTitle(title: string): string {
  return title.length <= ANNOTATION_TITLE_LIMIT ? title : `${title.slice(0, ANNOTATION_TITLE_LIMIT - 1)}…`;
}

export function annotationMessage(message: string): string {
  // 64 KB is counted in bytes by GitHub; a UTF-16 length this far under it cannot exceed it in UTF-8 beyond 3×.
  return Buffer.byteLength(message) <= ANNOTATION_MESSAGE_LIMIT ? message : withinLimit(message, Math.floor(ANNOTATION_MESSAGE_LIMIT / 3));
}
