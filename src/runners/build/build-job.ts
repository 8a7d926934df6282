import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import type { BuildJob } from "../../config/job-spec.js";
import type { ProgressEvent, RunContext, RunResult } from "../types.js";
import { buildKernel } from "./build-kernel.js";
import { BUILD_LOG, type BuildResult } from "./build-result.js";
import { DEFAULT_BUILDER_IMAGE, type KernelBuildSpec } from "./build-spec.js";

/** A build job's outputs, relative to its job dir: the kernel, vmlinux, the archives, build.log and manifest.json. */
export const BUILD_OUTPUT_DIR = "build";

/** A build job's result: the build's own, and where its outputs are. */
export interface BuildJobResult extends BuildResult {
  /** The output dir, relative to the job dir. */
  dir: string;
}

/** Where the compiler cache lives and how large it may grow. */
export interface CcacheSettings {
  dir: string;
  /** CCACHE_MAXSIZE, e.g. `5G`: ccache trims itself to it. */
  maxSize: string;
  /**
   * Whose cache under `dir` (ccacheScope: a repository's): a build can write the cache it
   * uses, so no repository's build shares one with another's.
   */
  scope?: string;
  /** An untrusted build's (a fork's code): the cache is mounted read-only, so it cannot plant objects for the builds after it. */
  readOnly?: boolean;
}

/** A repository's directory name under the cache dir: `owner/repo` as `owner__repo` (GitHub owners have no `_`, so no two collide). */
export function ccacheScope(repository: string): string {
  return repository
    .split("/")
    .map((part) => part.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^\.+/, "-"))
    .join("__");
}

const DEFAULT_CCACHE_MAX_SIZE = "5G";

/**
 * The compiler cache of this machine: KTO_CCACHE_DIR when set; else a runner host's, under
 * its kto directory (/var/lib/kto/ccache, shared by every job it runs), or a developer's,
 * in their own cache dir. KTO_CCACHE_MAX_SIZE caps it.
 */
export function ccacheSettings(where: "host" | "user", env: NodeJS.ProcessEnv = process.env): CcacheSettings {
  const base = where === "host" ? join(env.KTO_HOST_DIR ?? "/var/lib/kto", "ccache") : join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "kto", "ccache");
  return { dir: env.KTO_CCACHE_DIR || base, maxSize: env.KTO_CCACHE_MAX_SIZE || DEFAULT_CCACHE_MAX_SIZE };
}

/** The build a job names, with every default resolved; its slug names its container. */
export function kernelBuildSpecOf(job: BuildJob): KernelBuildSpec {
  return {
    name: job.slug,
    arch: job.arch,
    toolchain: job.toolchain,
    config: job.config,
    targets: job.targets,
    image: job.image ?? DEFAULT_BUILDER_IMAGE,
    timeoutMs: job.timeoutMs,
    ...(job.cpus ? { cpus: job.cpus } : {}),
    ...(job.memoryBytes ? { memoryBytes: job.memoryBytes } : {}),
  };
}

export interface BuildJobOptions {
  ccache: CcacheSettings;
  docker?: Docker;
  owner?: string;
}

/**
 * Runs a build job: the workspace is the kernel tree (read-only), the outputs go to
 * `<jobDir>/build`. Its RunResult is the build's: a compile error `failed`, a host fault
 * `infrastructure`, with the BuildResult under `build`.
 */
export async function runBuildJob(job: BuildJob, context: RunContext, options: BuildJobOptions): Promise<RunResult> {
  const outDir = join(context.jobDir, BUILD_OUTPUT_DIR);
  let seen = 0;
  const build = await buildKernel({
    spec: kernelBuildSpecOf(job),
    tree: context.workspace,
    outDir,
    ccacheDir: options.ccache.scope ? join(options.ccache.dir, options.ccache.scope) : options.ccache.dir,
    ccacheMaxSize: options.ccache.maxSize,
    ccacheReadOnly: options.ccache.readOnly ?? false,
    signal: context.signal,
    ...(options.docker ? { docker: options.docker } : {}),
    ...(options.owner ? { owner: options.owner } : {}),
    onProgress: (event) => {
      if (event.kind === "output") {
        // The build counts all it has seen; a job's output event carries one chunk.
        context.onProgress?.({ kind: "output", jobId: job.id, bytes: event.bytes - seen });
        seen = event.bytes;
      } else context.onProgress?.({ kind: "phase", jobId: job.id, phase: event.phase } satisfies ProgressEvent);
    },
  });
  const finishedAt = new Date(Date.parse(build.startedAt) + build.durationMs);
  const logs = { stdout: `${BUILD_OUTPUT_DIR}/${BUILD_LOG}`, stderr: "stderr.log" };
  await writeFile(join(context.jobDir, logs.stderr), build.outcome === "passed" ? "" : `kto: ${build.reason}\n`);
  const result: RunResult = {
    jobId: job.id,
    status: build.status,
    outcome: build.outcome,
    reason: build.reason,
    exitCode: build.exitCode,
    startedAt: build.startedAt,
    finishedAt: finishedAt.toISOString(),
    durationMs: build.durationMs,
    results: null,
    metrics: { wallMs: build.durationMs, cpuMs: null, memoryPeakBytes: null },
    artifacts: [],
    logs,
    stdoutTruncated: build.log.truncated,
    stderrTruncated: false,
    build: { ...build, dir: BUILD_OUTPUT_DIR },
  };
  await writeFile(join(context.jobDir, "result.json"), JSON.stringify(result, null, 2));
  return result;
}
