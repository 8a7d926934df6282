import type { BuildOutputFile } from "../../config/job-spec.js";
import type { BuildJobResult } from "../build/build-job.js";
import type { BuildAnnotation } from "../build/diagnostics.js";
import { codeSpan, inlineText } from "./markdown.js";

/** Diagnostics a report carries; GitHub shows 50 annotations a request and a build with hundreds has few causes. */
export const REPORTED_DIAGNOSTICS = 50;

/** What a build job's report says of its build: enough for a check run, its annotations and its handoff. */
export interface BuildReport {
  counts: { errors: number; warnings: number };
  /** The first diagnostics, errors before warnings, paths relative to the tree. */
  diagnostics: BuildAnnotation[];
  /** Diagnostics seen and not listed. */
  diagnosticsOmitted: number;
  /** ccache hits over lookups; null when nothing was compiled through it. */
  ccacheHitRate: number | null;
  /** Options asked for that the final .config lacks, one sentence each. */
  droppedOptions: string[];
  /** The outputs, relative to `dir`, each with its digest: what a job that boots them checks. */
  files: BuildOutputFile[];
  /** The output dir, relative to the job's dir. */
  dir: string;
  /** The artifact the outputs were uploaded as, once the action has uploaded them. */
  artifact?: { name: string; id: number | null; url: string } | null;
}

/** Errors before warnings, each in the order the build printed it. */
export function errorsFirst(annotations: readonly BuildAnnotation[]): BuildAnnotation[] {
  return [...annotations.filter((a) => a.severity === "error"), ...annotations.filter((a) => a.severity === "warning")];
}

export function buildReport(build: BuildJobResult): BuildReport {
  const { counts } = build.diagnostics;
  const diagnostics = errorsFirst(build.diagnostics.annotations).slice(0, REPORTED_DIAGNOSTICS);
  return {
    counts,
    diagnostics,
    diagnosticsOmitted: counts.errors + counts.warnings - diagnostics.length,
    ccacheHitRate: build.ccache?.hitRate ?? null,
    droppedOptions: build.configWarnings.map((w) => w.message),
    files: build.files,
    dir: build.dir,
  };
}

/** `file:line:col: message`, as a compiler prints it, or the message alone for one about no file. */
export function diagnosticLine(annotation: BuildAnnotation): string {
  const place = annotation.place;
  if (!place) return annotation.message;
  const at = [place.path, place.line, place.column].filter((part) => part !== null).join(":");
  return `${at}: ${annotation.message}`;
}

export function hitRateText(rate: number | null): string {
  return rate === null ? "nothing compiled through it" : `${Math.round(rate * 100)}% hits`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** A build's part of a job summary: its diagnostics counted and the first listed, the ccache, the dropped options, the outputs. */
export function buildSummaryLines(name: string, build: BuildReport, errorsShown = 10): string[] {
  const lines = [
    `### ${inlineText(name)}`,
    "",
    `${plural(build.counts.errors, "error")}, ${plural(build.counts.warnings, "warning")}; ccache: ${hitRateText(build.ccacheHitRate)}.`,
    "",
  ];
  const errors = build.diagnostics.filter((d) => d.severity === "error").slice(0, errorsShown);
  for (const error of errors) lines.push(`- ${codeSpan(diagnosticLine(error))}`);
  if (errors.length > 0) lines.push("");
  if (build.droppedOptions.length > 0) {
    lines.push("Options the final `.config` does not have:", "");
    for (const message of build.droppedOptions) lines.push(`- ${inlineText(message)}`);
    lines.push("");
  }
  if (build.files.length > 0) lines.push(`Outputs in ${codeSpan(build.dir)}: ${build.files.map((f) => codeSpan(f.path)).join(", ")}.`, "");
  if (build.artifact) lines.push(`[Download the outputs](${encodeURI(build.artifact.url)}) (artifact ${codeSpan(build.artifact.name)}).`, "");
  return lines;
}
