import { readFile } from "node:fs/promises";
import { isMap, isNode, isSeq, LineCounter, parseDocument, type Document } from "yaml";
import type { ZodIssue } from "zod";
import { ConfigError, formatPath, type ConfigIssue } from "./errors.js";
import { configSchema, type KtoConfig } from "./schema.js";

export const DEFAULT_CONFIG_PATH = ".github/kto.yml";

/** Where a path of the parsed document sits in its source text. */
export type Locate = (path: readonly (string | number)[]) => { line: number; column: number };

export interface LoadedConfig {
  file: string;
  config: KtoConfig;
  locate: Locate;
}

export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = code === "ENOENT" ? "file not found" : `cannot read: ${(error as Error).message}`;
    throw new ConfigError([{ file, line: 1, column: 1, path: "", message }]);
  }
  return parseConfig(text, file);
}

/** Parses and validates a kto.yml text. Throws ConfigError listing every problem, each positioned. */
export function parseConfig(text: string, file: string = DEFAULT_CONFIG_PATH): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((error) => {
        const pos = lineCounter.linePos(error.pos[0]);
        return { file, line: pos.line, column: pos.col, path: "", message: firstLine(error.message) };
      }),
    );
  }
  const locate = locator(doc, lineCounter);
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => toConfigIssue(issue, file, locate)));
  }
  return { file, config: result.data, locate };
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

function toConfigIssue(issue: ZodIssue, file: string, locate: Locate): ConfigIssue {
  const { line, column } = locate(issue.path);
  return { file, line, column, path: formatPath(issue.path), message: describe(issue) };
}

function describe(issue: ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.received === "undefined" ? `required (expected ${issue.expected})` : `expected ${issue.expected}, got ${issue.received}`;
    case "unrecognized_keys":
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_enum_value":
      return `expected one of ${issue.options.map((o) => JSON.stringify(o)).join(", ")}, got ${JSON.stringify(issue.received)}`;
    case "invalid_union":
      return describeUnion(issue);
    default:
      return issue.message;
  }
}

/** Unions report one branch per alternative; the most specific branch is the useful one. */
function describeUnion(issue: Extract<ZodIssue, { code: "invalid_union" }>): string {
  const branches = issue.unionErrors.map((error) => error.issues[0]).filter((i): i is ZodIssue => i !== undefined);
  const specific = branches.find((i) => i.code === "custom" || i.code === "invalid_enum_value" || i.code === "too_small");
  if (specific) return describe(specific);
  const expected = [...new Set(branches.filter((i) => i.code === "invalid_type").map((i) => (i as { expected: string }).expected))];
  return expected.length ? `expected ${expected.join(" or ")}` : issue.message;
}

function locator(doc: Document, lineCounter: LineCounter): Locate {
  return (path) => {
    // Walk as deep as the document goes: a missing field points at its parent.
    let node: unknown = doc.contents;
    let offset = isNode(node) && node.range ? node.range[0] : 0;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isNode(item.key) && (item.key as { value?: unknown }).value === key);
        if (!pair) break;
        node = pair.value;
        const at = isNode(pair.value) && pair.value.range ? pair.value.range[0] : (pair.key as { range?: [number] }).range?.[0];
        if (at !== undefined) offset = at;
      } else if (isSeq(node) && typeof key === "number") {
        const item = node.items[key];
        if (!isNode(item)) break;
        node = item;
        if (item.range) offset = item.range[0];
      } else break;
    }
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
}
