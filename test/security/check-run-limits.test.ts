import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  annotationMessage,
  annotationTitle,
  ANNOTATION_MESSAGE_LIMIT,
  ANNOTATION_TITLE_LIMIT,
  SUMMARY_LIMIT,
  withinLimit,
} from "../../src/app/github/check-run-limits.js";

describe("check-run output stays within what GitHub accepts, however much a config or a test prints", () => {
  it("a summary of any length, in any script, fits in 65,535 bytes (GitHub's bytesize) and says it was cut", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300_000 }),
        fc.oneof(fc.string({ minLength: 1, maxLength: 3 }), fc.constantFrom("é", "€", "🙂", "a€🙂")),
        (length, unit) => {
          const text = unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
          const cut = withinLimit(text, SUMMARY_LIMIT);
          expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(SUMMARY_LIMIT);
          if (Buffer.byteLength(text) <= SUMMARY_LIMIT) expect(cut).toBe(text);
          else {
            expect(cut).toMatch(/… \d+ more bytes cut \(GitHub's limit\)/);
            // Cut between characters, never inside one.
            expect(cut).not.toContain("\uFFFD");
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("an annotation's title fits in 255 characters and its message in 64 KB, multi-byte text included", () => {
    expect(annotationTitle("t".repeat(1000))).toHaveLength(ANNOTATION_TITLE_LIMIT);
    expect(annotationTitle("short")).toBe("short");
    for (const message of ["x".repeat(200_000), "é".repeat(60_000), "🙂".repeat(30_000)]) {
      expect(Buffer.byteLength(annotationMessage(message))).toBeLessThanOrEqual(ANNOTATION_MESSAGE_LIMIT);
    }
    expect(annotationMessage("fine")).toBe("fine");
  });

  it("an annotation's title is counted in characters as GitHub counts them: an emoji is one, and none is cut in half", () => {
    const emoji = "🙂".repeat(ANNOTATION_TITLE_LIMIT);
    expect(annotationTitle(emoji)).toBe(emoji);
    const cut = annotationTitle(`a${"🙂".repeat(300)}`);
    expect([...cut]).toHaveLength(ANNOTATION_TITLE_LIMIT);
    expect(cut.endsWith("🙂…")).toBe(true);
    expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});
