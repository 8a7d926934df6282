import { open } from "node:fs/promises";
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from "yaml";
import type { z, ZodIssue, ZodTypeAny } from "zod";
import { ConfigError, configErrorOf, formatPath, type ConfigIssue } from "./errors.js";
import { MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_VALUES } from "./limits.js";
import { configSchema, type KtoConfig } from "./schema.js";

export const DEFAULT_CONFIG_PATH = ".github/kto.yml";

/** Where a path of the parsed document sits in its source text. */
export type Locate = (path: readonly (string | number)[]) => { line: number; column: number };

export interface LoadedConfig {
  file: string;
  config: KtoConfig;
  locate: Locate;
}

type Path = (string | number)[];

const TOO_LARGE = `is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, kto's limit for a config file`;
const TOO_DEEP = `nested too deeply: kto reads at most ${MAX_CONFIG_DEPTH} levels`;
const TOO_MANY = `is value ${MAX_CONFIG_VALUES + 1} of the document; kto reads at most ${MAX_CONFIG_VALUES}`;

export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const text = await readYamlText(file);
  if (text === null) throw new ConfigError([{ file, line: 1, column: 1, path: "", message: "file not found" }]);
  return parseConfig(text, file);
}

/** A YAML file's text, or null when there is no such file; a ConfigError when it cannot be read or is too large. */
export async function readYamlText(file: string): Promise<string | null> {
  let text: string | null;
  try {
    text = await readUpTo(file, MAX_CONFIG_BYTES);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new ConfigError([{ file, line: 1, column: 1, path: "", message: `cannot read: ${(error as Error).message}` }]);
  }
  if (text === null) throw new ConfigError([{ file, line: 1, column: 1, path: "", message: TOO_LARGE }]);
  return text;
}

/** The file's text, or null when it is longer than `max` bytes: never more than that is read. */
async function readUpTo(file: string, max: number): Promise<string | null> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      length += bytesRead;
      if (bytesRead === 0 || length === buffer.length) break;
    }
    return length > max ? null : buffer.toString("utf8", 0, length);
  } finally {
    await handle.close();
  }
}

/** Parses and validates a kto.yml text. Throws ConfigError listing every problem, each positioned. */
export function parseConfig(text: string, file: string = DEFAULT_CONFIG_PATH): LoadedConfig {
  const { data, locate } = parseYaml(configSchema, text, file);
  return { file, config: data, locate };
}

/**
 * Parses a YAML text of kto's (a kto.yml, a host's policy) and validates it with `schema`,
 * within kto's bounds on size, depth and aliases. Throws ConfigError listing every problem, each positioned.
 */
export function parseYaml<S extends ZodTypeAny>(schema: S, text: string, file: string): { data: z.output<S>; locate: Locate } {
  if (Buffer.byteLength(text, "utf8") > MAX_CONFIG_BYTES) throw new ConfigError([{ file, line: 1, column: 1, path: "", message: TOO_LARGE }]);
  const lineCounter = new LineCounter();
  // kto's keys are field names: a collection as a key is an error, not an object turned into a string.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, stringKeys: true, merge: false });
  const issueAt = (offset: number, path: Path, message: string): ConfigIssue => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path: formatPath(path), message };
  };
  if (doc.errors.length > 0) throw yamlErrors(doc, issueAt);
  const locate = locator(doc, lineCounter);
  const result = schema.safeParse(plainData(doc, issueAt) ?? {});
  if (!result.success) throw configErrorOf(result.error.issues, (issue) => toConfigIssue(issue, file, locate));
  return { data: result.data as z.output<S>, locate };
}

type IssueAt = (offset: number, path: Path, message: string) => ConfigIssue;

function yamlErrors(doc: Document, issueAt: IssueAt): ConfigError {
  const { errors } = doc;
  // yaml gives up on a collection nested so deep that composing it overflows the stack;
  // what follows from that is noise, and where to cut is where kto's own limit is.
  const overflow = errors.find((error) => error.code === "RESOURCE_EXHAUSTION");
  if (overflow) {
    const { path, offset } = nodeAt(doc, overflow.pos[0], MAX_CONFIG_DEPTH + 1);
    return new ConfigError([issueAt(offset, path, TOO_DEEP)]);
  }
  return configErrorOf(errors, (error) => issueAt(error.pos[0], nodeAt(doc, error.pos[0], Infinity).path, firstLine(error.message)));
}

/** The innermost node (at most `maxDepth` down) whose text holds `offset`: its path and where it starts. */
function nodeAt(doc: Document, offset: number, maxDepth: number): { path: Path; offset: number } {
  const holds = (n: unknown): n is YamlNode & { range: [number, number, number] } => isNode(n) && !!n.range && n.range[0] <= offset && offset < n.range[2];
  const path: Path = [];
  let node: unknown = doc.contents;
  let start = holds(node) ? node.range[0] : offset;
  for (let depth = 1; depth < maxDepth; depth++) {
    let key: unknown = null;
    let child: unknown = null;
    if (isMap(node)) {
      const pair = node.items.find((item) => holds(item.key) || holds(item.value));
      if (!pair) break;
      path.push(keyOf(pair.key));
      [key, child] = [pair.key, pair.value];
    } else if (isSeq(node)) {
      const index = node.items.findIndex(holds);
      if (index < 0) break;
      path.push(index);
      child = node.items[index];
    } else break;
    if (!holds(child)) {
      if (holds(key)) start = key.range[0];
      break;
    }
    node = child;
    start = child.range[0];
  }
  return { path, offset: start };
}

function keyOf(key: unknown): string {
  const value = isScalar(key) ? key.value : null;
  return value === null || value === undefined ? "" : String(value);
}

/**
 * The document as plain data, as `doc.toJS()` makes it (an alias is the very value of its
 * anchor), but refusing, at the node, nesting deeper than MAX_CONFIG_DEPTH, and a document
 * that holds more than MAX_CONFIG_VALUES values once each alias counts as the copy of its
 * anchor's contents that checking the schema makes: the shape of an alias bomb. Built here
 * because yaml's own alias check (maxAliasCount) rescans the document at every alias, so a
 * megabyte of aliases takes it many minutes.
 */
function plainData(doc: Document, issueAt: IssueAt): unknown {
  const anchors = new Map<string, YamlNode>();
  const built = new Map<YamlNode, unknown>();
  // How many values an anchored node stands for, once all of it is built.
  const sizes = new Map<YamlNode, number>();
  let values = 0;
  const refuse = (node: YamlNode, path: Path, message: string): never => {
    throw new ConfigError([issueAt(node.range?.[0] ?? 0, path, message)]);
  };
  const count = (node: YamlNode, path: Path, n: number, alias?: string) => {
    values += n;
    if (values <= MAX_CONFIG_VALUES) return;
    refuse(
      node,
      path,
      alias ? `alias *${alias} takes the document past ${MAX_CONFIG_VALUES} values, an alias counting as a copy of its anchor (an alias bomb?)` : TOO_MANY,
    );
  };
  const convert = (node: unknown, path: Path, depth: number): unknown => {
    if (!isNode(node)) return null;
    if (depth > MAX_CONFIG_DEPTH) refuse(node, path, TOO_DEEP);
    if (isAlias(node)) {
      const target = anchors.get(node.source) ?? refuse(node, path, `alias *${node.source} names no anchor before it`);
      // An alias inside its own anchor's contents is a cycle, as in yaml's toJS: it copies nothing.
      count(node, path, sizes.get(target) ?? 1, node.source);
      return built.get(target);
    }
    count(node, path, 1);
    const before = values;
    if (node.anchor) anchors.set(node.anchor, node);
    const entries = (object: Record<string, unknown>, pair: { key: unknown; value: unknown }, at: Path) => {
      const key = String(convert(pair.key, at, depth + 1) ?? "");
      // Own property even for `__proto__`, as yaml's toJS makes it.
      Object.defineProperty(object, key, { value: convert(pair.value, [...at, key], depth + 1), enumerable: true, writable: true, configurable: true });
    };
    let value: unknown;
    if (isMap(node)) {
      const object: Record<string, unknown> = {};
      if (node.anchor) built.set(node, object);
      for (const pair of node.items) entries(object, pair, path);
      value = object;
    } else if (isSeq(node)) {
      const list: unknown[] = [];
      if (node.anchor) built.set(node, list);
      for (const [index, item] of node.items.entries()) {
        if (isPair(item)) {
          // !!pairs and !!omap hold pairs in a sequence: each one a single-key map.
          const single: Record<string, unknown> = {};
          entries(single, item, [...path, index]);
          list.push(single);
        } else list.push(convert(item, [...path, index], depth + 1));
      }
      value = list;
    } else value = isScalar(node) ? node.value : null;
    if (node.anchor) {
      built.set(node, value);
      sizes.set(node, values - before + 1);
    }
    return value;
  };
  return convert(doc.contents, [], 1);
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
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
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
