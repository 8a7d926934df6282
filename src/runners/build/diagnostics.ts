import { posix } from "node:path";

/** Where the build container sees the kernel tree and its output (make O=). */
export const TREE_MOUNT = "/src";
export const OUT_MOUNT = "/out";

export type DiagnosticTool = "compiler" | "modpost" | "objtool" | "kconfig" | "linker";

export interface SourcePlace {
  /** Relative to the repository when the file is in the tree; else as the build printed it, mounts stripped. */
  path: string;
  line: number | null;
  inTree: boolean;
}

export interface BuildAnnotation {
  severity: "error" | "warning";
  tool: DiagnosticTool;
  /** Null for a message about no one file (a modpost or linker error). */
  place: (SourcePlace & { column: number | null }) | null;
  message: string;
  /** `-Wunused-variable`, when the compiler names the option. */
  flag: string | null;
  /** The function the compiler was in, from its `In function` line. */
  function: string | null;
  /** `In file included from` chain, innermost first. */
  includedFrom: SourcePlace[];
  /** The compiler's `note:` lines and Kconfig's detail lines that follow the message. */
  notes: string[];
}

export interface BuildDiagnostics {
  annotations: BuildAnnotation[];
  counts: { errors: number; warnings: number };
  /** More diagnostics were seen than are kept as annotations (the same one printed again is counted once). */
  truncated: boolean;
  /** The build said a disk was full. */
  diskFull: boolean;
}

/** Annotations kept per build; the counts go on. GitHub shows 50 per request, and a build with thousands has one cause. */
export const MAX_ANNOTATIONS = 500;
const MAX_NOTES = 20;

const COMPILER = /^(?<file>[^\s:][^:]*):(?<line>\d+):(?:(?<column>\d+):)? (?<severity>fatal error|error|warning|note): (?<message>.*)$/;
const FLAG = / \[(?<flag>-W[^\]]+)\]$/;
const IN_FUNCTION = /^(?<file>[^\s:][^:]*): In (?:member )?function ['‘`](?<name>[^'’`]+)['’`]:$/;
const AT_TOP_LEVEL = /^[^\s:][^:]*: At top level:$/;
const INCLUDED_FIRST = /^In file included from (?<file>[^:]+):(?<line>\d+)(?::\d+)?[,:]$/;
const INCLUDED_MORE = /^\s+from (?<file>[^:]+):(?<line>\d+)(?::\d+)?[,:]$/;
const MODPOST = /^(?<severity>WARNING|ERROR): modpost: (?<message>.*)$/;
const OBJTOOL = /^(?<file>[^\s:][^:]*): (?<severity>warning|error): objtool: (?<message>.*)$/;
const KCONFIG_UNMET = /^WARNING: (?<message>unmet direct dependencies detected for .*)$/;
const KCONFIG_AT = /^(?<file>[^\s:][^:]*):(?<line>\d+):\s?(?<severity>warning|error): (?<message>.*)$/;
const KCONFIG_DEFINED_AT = /^warning: (?<message>.*\(defined at (?<file>[^:)]+):(?<line>\d+)\).*)$/;
const LINKER = /^(?:\S*-)?ld(?:\.lld|\.bfd)?: (?:(?<severity>error|warning): )?(?<message>.*)$/;
/** GNU ld's second line of an undefined reference: `file:line: undefined reference to ...` or `file:(.text+0x5): ...`. */
const LINKER_AT = /^(?<file>[^\s:][^:]*):(?:(?<line>\d+)|\([^)]*\)): (?<message>(?:undefined reference to|multiple definition of) .*)$/;
const DISK_FULL = /No space left on device/;
const KCONFIG_FILE = /(^|\/)Kconfig[^/]*$/;

/**
 * A build path as the repository knows it: the container's tree mount stripped, a
 * relative path read from `base`: the output dir, where make runs with O= (the compiler
 * names sources by absolute path, so a relative one is a generated file), or the tree, for
 * the Kconfig files Kconfig names relative to it. Paths outside the tree (generated
 * headers, objects, .config) keep their place under the output dir.
 */
export function sourcePlace(raw: string, line: number | null, base: string = OUT_MOUNT): SourcePlace {
  const absolute = posix.resolve(base, raw);
  const inTree = absolute.startsWith(`${TREE_MOUNT}/`);
  const path = inTree ? absolute.slice(TREE_MOUNT.length + 1) : absolute.startsWith(`${OUT_MOUNT}/`) ? absolute.slice(OUT_MOUNT.length + 1) : raw;
  return { path, line, inTree };
}

function severityOf(text: string): "error" | "warning" {
  return /error/i.test(text) ? "error" : "warning";
}

/**
 * Reads a kernel build's log line by line into annotations: gcc and clang diagnostics with
 * their notes and include chains, modpost, objtool, Kconfig and linker messages. Fed as the
 * log streams, so a log of any length is read whole in bounded memory.
 */
export class DiagnosticsParser {
  private readonly annotations: BuildAnnotation[] = [];
  private readonly counts = { errors: 0, warnings: 0 };
  private diskFull = false;
  private includes: SourcePlace[] = [];
  private currentFunction: { file: string; name: string } | null = null;
  /** The annotation that indented detail lines and `note:`s belong to. */
  private last: BuildAnnotation | null = null;
  private kconfigDetail = false;
  /** Annotations already made: a warning in a header is printed once for every file that includes it. */
  private readonly seen = new Set<string>();

  push(line: string): void {
    if (DISK_FULL.test(line)) this.diskFull = true;
    if (this.kconfigDetail && /^\s+\S/.test(line)) return this.note(line.trim());
    this.kconfigDetail = false;
    let match: RegExpExecArray | null;
    if ((match = INCLUDED_FIRST.exec(line))) {
      this.includes = [sourcePlace(match.groups!.file!, Number(match.groups!.line))];
    } else if ((match = INCLUDED_MORE.exec(line)) && this.includes.length > 0) {
      this.includes.push(sourcePlace(match.groups!.file!, Number(match.groups!.line)));
    } else if ((match = IN_FUNCTION.exec(line))) {
      this.currentFunction = { file: match.groups!.file!, name: match.groups!.name! };
    } else if (AT_TOP_LEVEL.test(line)) {
      this.currentFunction = null;
    } else if ((match = KCONFIG_UNMET.exec(line))) {
      this.add("warning", "kconfig", null, match.groups!.message!);
      this.kconfigDetail = true;
    } else if ((match = MODPOST.exec(line))) {
      this.add(severityOf(match.groups!.severity!), "modpost", null, match.groups!.message!);
    } else if ((match = OBJTOOL.exec(line))) {
      this.add(severityOf(match.groups!.severity!), "objtool", { ...sourcePlace(match.groups!.file!, null), column: null }, match.groups!.message!);
    } else if ((match = COMPILER.exec(line))) {
      this.compiler(match.groups!);
    } else if ((match = KCONFIG_AT.exec(line))) {
      const file = match.groups!.file!;
      const place = { ...sourcePlace(file, Number(match.groups!.line), KCONFIG_FILE.test(file) ? TREE_MOUNT : OUT_MOUNT), column: null };
      this.add(severityOf(match.groups!.severity!), "kconfig", place, match.groups!.message!);
    } else if ((match = KCONFIG_DEFINED_AT.exec(line))) {
      const place = { ...sourcePlace(match.groups!.file!, Number(match.groups!.line), TREE_MOUNT), column: null };
      this.add("warning", "kconfig", place, match.groups!.message!);
      this.kconfigDetail = true;
    } else if ((match = LINKER_AT.exec(line))) {
      const place = match.groups!.line ? { ...sourcePlace(match.groups!.file!, Number(match.groups!.line)), column: null } : null;
      this.add("error", "linker", place, match.groups!.message!);
    } else if ((match = LINKER.exec(line)) && (match.groups!.severity || /undefined reference|multiple definition/.test(line))) {
      this.add(match.groups!.severity === "warning" ? "warning" : "error", "linker", null, match.groups!.message!);
    }
  }

  result(): BuildDiagnostics {
    return {
      annotations: this.annotations,
      counts: { ...this.counts },
      truncated: this.annotations.length < this.counts.errors + this.counts.warnings,
      diskFull: this.diskFull,
    };
  }

  private compiler(groups: Record<string, string | undefined>): void {
    const place = { ...sourcePlace(groups.file!, Number(groups.line)), column: groups.column ? Number(groups.column) : null };
    const includedFrom = this.includes;
    this.includes = [];
    if (groups.severity === "note") {
      const where = place.line === null ? place.path : `${place.path}:${place.line}`;
      return this.note(`${where}: ${groups.message}`);
    }
    const flagMatch = FLAG.exec(groups.message!);
    const message = flagMatch ? groups.message!.slice(0, flagMatch.index) : groups.message!;
    const inFunction = this.currentFunction && this.currentFunction.file === groups.file ? this.currentFunction.name : null;
    const annotation = this.add(severityOf(groups.severity!), "compiler", place, message, flagMatch?.groups!.flag ?? null, inFunction);
    if (annotation) annotation.includedFrom = includedFrom;
  }

  private add(
    severity: "error" | "warning",
    tool: DiagnosticTool,
    place: BuildAnnotation["place"],
    message: string,
    flag: string | null = null,
    inFunction: string | null = null,
  ): BuildAnnotation | null {
    const key = JSON.stringify([severity, tool, place, message]);
    if (this.seen.has(key)) {
      this.last = null;
      return null;
    }
    this.counts[severity === "error" ? "errors" : "warnings"] += 1;
    if (this.annotations.length >= MAX_ANNOTATIONS) {
      this.last = null;
      return null;
    }
    this.seen.add(key);
    const annotation: BuildAnnotation = { severity, tool, place, message, flag, function: inFunction, includedFrom: [], notes: [] };
    this.annotations.push(annotation);
    this.last = annotation;
    return annotation;
  }

  private note(text: string): void {
    if (this.last && this.last.notes.length < MAX_NOTES) this.last.notes.push(text);
  }
}

/** Every diagnostic of a whole log text. */
export function parseBuildLog(text: string): BuildDiagnostics {
  const parser = new DiagnosticsParser();
  for (const line of text.split("\n")) parser.push(line.replace(/\r$/, ""));
  return parser.result();
}
