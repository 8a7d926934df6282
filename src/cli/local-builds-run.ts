import { join } from "node:path";
import { formatDuration } from "../config/duration.js";
import type { BuildJob } from "../config/job-spec.js";
import type { ExecutorFactory } from "../runners/factory.js";
import { buildReport, diagnosticLine, hitRateText } from "../runners/report/build-report.js";
import { runJob } from "../runners/run-job.js";
import type { ProgressEvent, RunResult } from "../runners/types.js";
import { EXIT } from "./exit-codes.js";

export interface LocalBuildsOptions {
  factory: ExecutorFactory;
  /** The kernel tree, mounted read-only. */
  tree: string;
  /** Each build gets `<out>/<slug>/`, its outputs in `build/` inside. */
  out: string;
  signal?: AbortSignal;
  onStart?: (jobId: string) => void;
  onProgress?: (event: ProgressEvent) => void;
  onEnd?: (jobId: string, result: RunResult) => void;
}

/**
 * Runs builds one after another on this machine, each with all the CPUs it asks for.
 * Builds alone depend on nothing and wait for nothing, so no orchestrator (store, queue,
 * leases) stands between them and the machine; a job that boots a build is `kto run`'s.
 */
export async function runBuildsHere(builds: readonly BuildJob[], options: LocalBuildsOptions): Promise<{ job: BuildJob; result: RunResult; dir: string }[]> {
  const done: { job: BuildJob; result: RunResult; dir: string }[] = [];
  for (const job of builds) {
    const dir = join(options.out, job.slug);
    options.onStart?.(job.id);
    const result = await runJob(job, {
      factory: options.factory,
      workspace: options.tree,
      jobDir: dir,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    options.onEnd?.(job.id, result);
    done.push({ job, result, dir });
  }
  return done;
}

const FIRST_ERRORS = 5;

/** What a person reads of one build: outcome and time, the cache, the diagnostics with the first errors, the dropped options, the outputs. */
export function buildText(job: BuildJob, result: RunResult, dir: string): string {
  const lines = [`kto: ${job.id}: ${result.outcome} in ${formatDuration(result.durationMs)}: ${result.reason}`];
  if (result.build) {
    const build = buildReport(result.build);
    lines.push(`  ccache: ${hitRateText(build.ccacheHitRate)}`);
    lines.push(`  diagnostics: ${build.counts.errors} errors, ${build.counts.warnings} warnings`);
    for (const error of build.diagnostics.filter((d) => d.severity === "error").slice(0, FIRST_ERRORS)) lines.push(`    ${diagnosticLine(error)}`);
    for (const dropped of build.droppedOptions) lines.push(`  dropped: ${dropped}`);
    lines.push(`  outputs: ${join(dir, build.dir)}${build.files.length ? ` (${build.files.map((f) => f.path).join(", ")})` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

/** 0 when every build built, 2 when one could not start through the config's fault, else 1. */
export function buildsExitCode(results: readonly { result: RunResult }[]): number {
  if (results.some((r) => r.result.outcome === "config_error")) return EXIT.usage;
  return results.every((r) => r.result.status === "succeeded") ? EXIT.ok : EXIT.failed;
}
