/**
 * Globs over test names, which hold spaces, slashes, colons and brackets of their own
 * (`selftests: net/forwarding: router.sh`, KUnit's `test[param]`): `*` matches any run of
 * characters, across levels and slashes; `?` matches one; `\` makes the next character
 * literal; everything else is itself. Matched segment by segment, leftmost first, which is
 * exact for such globs and never backtracks more than one segment's length.
 */

/** More wildcards than a test's name needs; the cap bounds the work of one match. */
export const MAX_GLOB_WILDCARDS = 16;

export class TestGlobError extends Error {
  override readonly name = "TestGlobError";
}

/** A literal character, or null for `?`. */
type Segment = (string | null)[];

export function compileTestGlob(pattern: string): (text: string) => boolean {
  if (pattern.startsWith("!")) throw new TestGlobError("a glob cannot be negated: list the tests that are known, not those that are not");
  const segments: Segment[] = [[]];
  let wildcards = 0;
  let endsWithStar = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    endsWithStar = c === "*";
    if (c === "\\") {
      if (i + 1 === pattern.length) throw new TestGlobError("ends with a lone \\ (write \\\\ for a backslash)");
      segments.at(-1)!.push(pattern[++i]!);
    } else if (c === "*") {
      wildcards += 1;
      if (segments.at(-1)!.length > 0 || segments.length === 1) segments.push([]);
    } else {
      if (c === "?") wildcards += 1;
      segments.at(-1)!.push(c === "?" ? null : c);
    }
    if (wildcards > MAX_GLOB_WILDCARDS) throw new TestGlobError(`has more than ${MAX_GLOB_WILDCARDS} wildcards`);
  }
  return (text) => matches(segments, !endsWithStar, text);
}

/**
 * The literal start every name `pattern` matches has: its characters up to the first
 * wildcard. Sorted names that start with it are the only ones the glob need be tried on.
 */
export function testGlobPrefix(pattern: string): string {
  let prefix = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" || c === "?") break;
    prefix += c === "\\" ? (pattern[++i] ?? "") : c;
  }
  return prefix;
}

function matchesAt(segment: Segment, text: string, at: number): boolean {
  if (at + segment.length > text.length) return false;
  for (let i = 0; i < segment.length; i++) if (segment[i] !== null && segment[i] !== text[at + i]) return false;
  return true;
}

function matches(segments: Segment[], anchoredEnd: boolean, text: string): boolean {
  const [first, ...rest] = segments;
  if (!matchesAt(first!, text, 0)) return false;
  if (rest.length === 0) return text.length === first!.length;
  let at = first!.length;
  const last = anchoredEnd ? rest.pop()! : null;
  for (const segment of rest) {
    let found = -1;
    for (let i = at; i + segment.length <= text.length; i++)
      if (matchesAt(segment, text, i)) {
        found = i;
        break;
      }
    if (found < 0) return false;
    at = found + segment.length;
  }
  if (last === null) return true;
  const start = text.length - last.length;
  return start >= at && matchesAt(last, text, start);
}
