import { consoleLines } from "./console-text.js";
import { parseJunit } from "./junit.js";
import { parseKtap } from "./ktap.js";
import { parseTap } from "./tap.js";
import type { ParsedResults, ResultsFormat } from "./types.js";

const KTAP_VERSION = /KTAP version \d/i;
const TAP_VERSION = /TAP version \d+$/i;
const TAB_RESULT = /^\t+(?:not )?ok \d/;
const PLAN = /^1\.\.\d+$/;
const RESULT = /^(?:not )?ok \d/;

/**
 * Picks the format from the text itself. Kernel consoles print TAP with prefixes and
 * `# Subtest:` headers (KTAP's ancestor), so anything kernel-shaped goes to the KTAP reader.
 * One pass over the lines, with patterns that cannot leave their line: a multiline `^\s*`
 * backtracks over every blank line below each line, quadratic in a console full of them.
 */
export function detectFormat(text: string): ResultsFormat | null {
  const head = text.slice(0, 4096).trimStart();
  if (head.startsWith("<?xml") || /<testsuites?[\s>]/.test(head)) return "junit";
  let tapPrefix: string | null = null;
  let kernelShaped = false;
  let plan = false;
  let result = false;
  for (const raw of consoleLines(text)) {
    if (KTAP_VERSION.test(raw)) return "ktap";
    const line = raw.trimEnd();
    const version = tapPrefix === null ? TAP_VERSION.exec(line) : null;
    if (version) tapPrefix = line.slice(0, version.index);
    kernelShaped ||= line.trimStart().startsWith("# Subtest:") || TAB_RESULT.test(line);
    plan ||= PLAN.test(line);
    result ||= RESULT.test(line);
  }
  if (tapPrefix !== null) return tapPrefix.trim() !== "" || kernelShaped ? "ktap" : "tap";
  return plan && result ? "tap" : null;
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
