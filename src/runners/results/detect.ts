import { parseJunit } from "./junit.js";
import { parseKtap } from "./ktap.js";
import { parseTap } from "./tap.js";
import type { ParsedResults, ResultsFormat } from "./types.js";

/**
 * Picks the format from the text itself. Kernel consoles print TAP with prefixes and
 * `# Subtest:` headers (KTAP's ancestor), so anything kernel-shaped goes to the KTAP reader.
 */
export function detectFormat(text: string): ResultsFormat | null {
  const head = text.slice(0, 4096).trimStart();
  if (head.startsWith("<?xml") || /<testsuites?[\s>]/.test(head)) return "junit";
  if (/KTAP version \d+/.test(text)) return "ktap";
  const version = /^(.*?)TAP version (\d+)\s*$/m.exec(text);
  if (version) {
    const prefixed = version[1]!.trim() !== "";
    if (prefixed || /^\s*# Subtest:/m.test(text) || /^\t+(?:not )?ok \d/m.test(text)) return "ktap";
    return "tap";
  }
  if (/^1\.\.\d+\s*$/m.test(text) && /^(?:not )?ok \d+/m.test(text)) return "tap";
  return null;
}

export function parseResults(text: string, format: ResultsFormat | "auto" = "auto"): ParsedResults {
  const chosen = format === "auto" ? (detectFormat(text) ?? "ktap") : format;
  switch (chosen) {
    case "ktap":
      return parseKtap(text);
    case "tap":
      return parseTap(text);
    case "junit":
      return parseJunit(text);
  }
}
