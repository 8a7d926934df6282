import { statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatDuration } from "../../config/duration.js";
import { formatSize } from "../../config/size.js";
import type { TerminalState } from "../../config/job-spec.js";
import { isInfrastructureError, JobError } from "../errors.js";
import type { Outcome } from "../types.js";
import type { KernelBuildSpec } from "./build-spec.js";
import type { CcacheUse } from "./ccache-stats.js";
import type { UnmetOption } from "./config-check.js";
import type { BuildAnnotation, BuildDiagnostics } from "./diagnostics.js";
import type { OutputFile } from "./build-outputs.js";

/** How a build can end: built, broken by its code (`failed`), stopped, or unable to run through the config's fault or the host's. */
export type BuildOutcome = Extract<Outcome, "passed" | "failed" | "timed_out" | "cancelled" | "config_error" | "infrastructure">;

const STATUS_OF: Record<BuildOutcome, TerminalState> = {
  passed: "succeeded",
  failed: "failed",
  timed_out: "timed_out",
  cancelled: "cancelled",
  config_error: "errored",
  infrastructure: "errored",
};

/** A build that could not run here; another host may do better. */
export class BuildHostError extends JobError {
  override readonly name = "BuildHostError";
  readonly fault = "host";
}

export interface BuildResult {
  build: string;
  status: TerminalState;
  outcome: BuildOutcome;
  reason: string;
  /** make's exit status; null when the build was killed or never started. */
  exitCode: number | null;
  startedAt: string;
  durationMs: number;
  /** The outputs handed on, each hashed, relative to the output dir; the build log among them. */
  files: OutputFile[];
  diagnostics: BuildDiagnostics;
  /** Options asked for that the final .config does not have. */
  configWarnings: UnmetOption[];
  /** What this build got from the shared ccache; null when it never reached the compile. */
  ccache: CcacheUse | null;
  log: { path: string; bytes: number; truncated: boolean };
}

export const MANIFEST = "manifest.json";
export const DIAGNOSTICS = "diagnostics.json";
export const BUILD_LOG = "build.log";

export function noDiagnostics(): BuildDiagnostics {
  return { annotations: [], counts: { errors: 0, warnings: 0 }, truncated: false, diskFull: false };
}

export function named(outcome: BuildOutcome, reason: string): Pick<BuildResult, "status" | "outcome" | "reason"> {
  return { status: STATUS_OF[outcome], outcome, reason };
}

/** Whose fault an error that stopped a build before or around make is, in the same terms as a job's. */
export function erroredBuild(error: unknown): Pick<BuildResult, "status" | "outcome" | "reason"> {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as NodeJS.ErrnoException)?.code === "ENOSPC") return named("infrastructure", `the disk is full: ${message}`);
  return named(isInfrastructureError(error) ? "infrastructure" : "config_error", message);
}

function where(annotation: BuildAnnotation): string {
  const place = annotation.place;
  if (!place) return "";
  return place.line === null ? `${place.path}: ` : `${place.path}:${place.line}: `;
}

export interface MakeEnding {
  exitCode: number | null;
  reason: "exit" | "timeout" | "cancel";
  oomKilled: boolean;
}

/** Free bytes under the build's dirs: make saying a disk is full counts only when one nearly is. */
export async function lowOnSpace(dirs: string[], minFreeBytes: number): Promise<string | null> {
  for (const dir of dirs) {
    const fs = await statfs(dir).catch(() => null);
    if (fs && fs.bavail * fs.bsize < minFreeBytes) return `${dir} has ${formatSize(fs.bavail * fs.bsize)} free`;
  }
  return null;
}

/** The outcome of a build that ran: whose fault, in one line a person reads first. */
export function decideBuild(
  spec: KernelBuildSpec,
  ending: MakeEnding,
  diagnostics: BuildDiagnostics,
  missing: string[],
  diskFull: string | null,
): Pick<BuildResult, "status" | "outcome" | "reason"> {
  if (ending.reason === "cancel") return named("cancelled", "cancelled");
  if (ending.reason === "timeout") return named("timed_out", `the build ran past its timeout (${formatDuration(spec.timeoutMs)}) and was killed`);
  if (ending.oomKilled) {
    return spec.memoryBytes
      ? named("config_error", `the build ran out of its ${formatSize(spec.memoryBytes)} of memory: raise hardware.memory`)
      : named("infrastructure", "the build ran out of the host's memory");
  }
  // The build script exits 0 or BUILD_FAILED_STATUS; a signal's status is the container killed from outside (an engine stopping, a cleanup).
  if (ending.exitCode === 128 + 9 || ending.exitCode === 128 + 15) {
    return named("infrastructure", `the build container was killed from outside (exit ${ending.exitCode}) before make finished`);
  }
  if (ending.exitCode !== 0 && diskFull) return named("infrastructure", `the disk is full: ${diskFull}`);
  if (ending.exitCode !== 0) {
    const first = diagnostics.annotations.find((a) => a.severity === "error");
    const count = diagnostics.counts.errors;
    const summary = first ? `${count} error${count === 1 ? "" : "s"}; the first: ${where(first)}${first.message}` : "see build.log";
    return named("failed", `the build failed (exit ${ending.exitCode}): ${summary}`);
  }
  if (missing.length > 0) return named("failed", `the build succeeded but made no ${missing.join(", ")}`);
  const warnings = diagnostics.counts.warnings;
  return named(
    "passed",
    `built ${spec.targets.join(", ")} for ${spec.arch} with ${spec.toolchain}${warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}`,
  );
}

/** The manifest (small: no annotations) and the annotations beside it, for whatever shows the build. */
export async function writeBuildRecord(outDir: string, result: BuildResult): Promise<void> {
  const { diagnostics, ...rest } = result;
  const manifest = { ...rest, diagnostics: { counts: diagnostics.counts, truncated: diagnostics.truncated } };
  await writeFile(join(outDir, DIAGNOSTICS), JSON.stringify(diagnostics, null, 2));
  await writeFile(join(outDir, MANIFEST), JSON.stringify(manifest, null, 2));
}
