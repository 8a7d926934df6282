import { randomBytes } from "node:crypto";
import { chown, mkdir, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { demuxStreams, ensureImage, waitWithLimits, withTimeout, type SetTimer } from "../container-run.js";
import { NOBODY_USER } from "../../config/docker-access.js";
import { removeContainer } from "../container-removal.js";
import { ownerMark } from "../leftovers.js";
import { BoundedLog, LineSplitter } from "./build-log.js";
import { buildContainerOptions, STAGING } from "./build-container.js";
import { collectOutputs, describeFile, readBuiltFile } from "./build-outputs.js";
import {
  BUILD_LOG,
  BuildHostError,
  decideBuild,
  erroredBuild,
  lowOnSpace,
  named,
  noDiagnostics,
  writeBuildRecord,
  type BuildResult,
  type MakeEnding,
} from "./build-result.js";
import { DEFAULT_BUILDER_IMAGE, type KernelBuildSpec } from "./build-spec.js";
import { ccacheUse, readCcacheStats } from "./ccache-stats.js";
import { unmetOptions } from "./config-check.js";
import { stageConfigInputs } from "./config-inputs.js";
import { DiagnosticsParser } from "./diagnostics.js";

/** Time as the build sees it; the orchestrator's Clock fits. */
export interface BuildClock {
  now(): number;
  setTimer: SetTimer;
}

const systemTime: BuildClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export type BuildProgress = { kind: "phase"; build: string; phase: "pulling" | "building" | "collecting" } | { kind: "output"; build: string; bytes: number };

export interface BuildKernelOptions {
  spec: KernelBuildSpec;
  /** The kernel source tree; mounted read-only, never written. */
  tree: string;
  /** Where the outputs, build.log and manifest.json go; make's own output dir is `obj/` inside it. */
  outDir: string;
  /** The host's ccache root; each toolchain gets its own directory under it. */
  ccacheDir: string;
  /** The builder image when the spec names none. */
  image?: string;
  docker?: Docker;
  clock?: BuildClock;
  onProgress?: (event: BuildProgress) => void;
  signal?: AbortSignal;
  /** CCACHE_MAXSIZE: ccache trims itself to it. */
  ccacheMaxSize?: string;
  /** Mount the cache read-only and add nothing to it: an untrusted build's (a fork's) way to use it. */
  ccacheReadOnly?: boolean;
  /** Below this much free space under outDir or the ccache, the build does not start. */
  minFreeBytes?: number;
  /** Identifies this kto process on its containers, so leftovers can be swept. */
  owner?: string;
}

const DEFAULT_MIN_FREE_BYTES = 2 * 1024 ** 3;
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
const MAX_STATS_BYTES = 64 * 1024;

/**
 * The user the build runs as: this process's own user, so the outputs are the caller's;
 * kto running as root builds as nobody instead, and hands nobody the dirs it writes.
 */
async function buildUser(dirs: string[]): Promise<string> {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) return `${uid}:${process.getgid?.() ?? uid}`;
  const [owner, group] = NOBODY_USER.split(":").map(Number) as [number, number];
  for (const dir of dirs) await chown(dir, owner, group);
  return NOBODY_USER;
}

/**
 * Builds a kernel tree in the builder image: no network, unprivileged, the tree read-only,
 * output out of tree, ccache per toolchain. Never throws: a build that could not run ends
 * `config_error` or `infrastructure` with the reason, like a job. Leaves outDir with the
 * kernel image, vmlinux, System.map, config, archives asked for, build.log (bounded),
 * diagnostics.json and manifest.json.
 */
export async function buildKernel(options: BuildKernelOptions): Promise<BuildResult> {
  const { spec, outDir } = options;
  const clock = options.clock ?? systemTime;
  const started = clock.now();
  const log = new BoundedLog();
  const parser = new DiagnosticsParser();
  const partial: Omit<BuildResult, "status" | "outcome" | "reason" | "durationMs"> = {
    build: spec.name,
    exitCode: null,
    startedAt: new Date(started).toISOString(),
    files: [],
    diagnostics: noDiagnostics(),
    configWarnings: [],
    ccache: null,
    log: { path: BUILD_LOG, bytes: 0, truncated: false },
  };
  let decided: Pick<BuildResult, "status" | "outcome" | "reason">;
  try {
    decided = await runBuild(options, clock, log, parser, partial);
  } catch (error) {
    decided = erroredBuild(error);
  }
  try {
    // Written whatever happened, even empty: the manifest always names a log that exists.
    await log.writeTo(join(outDir, BUILD_LOG));
    partial.log = { path: BUILD_LOG, bytes: log.bytesSeen, truncated: log.truncated };
    partial.files.push(await describeFile(outDir, BUILD_LOG, "log"));
  } catch (error) {
    decided = erroredBuild(error);
  }
  const result: BuildResult = { ...partial, ...decided, durationMs: clock.now() - started };
  try {
    await writeBuildRecord(outDir, result);
  } catch (error) {
    return { ...result, ...erroredBuild(error) };
  }
  return result;
}

async function runBuild(
  options: BuildKernelOptions,
  clock: BuildClock,
  log: BoundedLog,
  parser: DiagnosticsParser,
  partial: Omit<BuildResult, "status" | "outcome" | "reason" | "durationMs">,
): Promise<Pick<BuildResult, "status" | "outcome" | "reason">> {
  const { spec, outDir } = options;
  const objDir = join(outDir, "obj");
  const ccacheDir = join(options.ccacheDir, spec.toolchain);
  await mkdir(objDir, { recursive: true });
  await mkdir(ccacheDir, { recursive: true });
  const minFree = options.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
  const low = await lowOnSpace([outDir, ccacheDir], minFree);
  if (low) throw new BuildHostError(`not enough disk space to build: ${low}`);
  if (!(await stat(join(options.tree, "Makefile")).catch(() => null))?.isFile()) {
    throw new BuildHostError(`${options.tree} is not a kernel tree: it has no Makefile`);
  }
  if (options.signal?.aborted) return named("cancelled", "cancelled");
  const inputs = await stageConfigInputs(spec, options.tree, objDir);
  const user = await buildUser([objDir, join(objDir, STAGING), ccacheDir]);
  const docker = options.docker ?? new Docker();
  const image = spec.image ?? options.image ?? DEFAULT_BUILDER_IMAGE;
  await ensureImage(docker, image, () => options.onProgress?.({ kind: "phase", build: spec.name, phase: "pulling" }));

  const splitter = new LineSplitter((line) => parser.push(line));
  const ending = await runContainer(docker, options, { ...spec, image }, { user, objDir, ccacheDir, fragments: inputs.fragments }, (chunk) => {
    log.write(chunk);
    splitter.write(chunk);
    options.onProgress?.({ kind: "output", build: spec.name, bytes: log.bytesSeen });
  });
  splitter.end();
  options.onProgress?.({ kind: "phase", build: spec.name, phase: "collecting" });
  partial.exitCode = ending.exitCode;
  partial.diagnostics = parser.result();

  const finalConfig = await readBuiltFile(objDir, ".config", MAX_CONFIG_BYTES);
  if (finalConfig !== null) partial.configWarnings = unmetOptions(inputs.requested, finalConfig);
  const before = await readBuiltFile(objDir, `${STAGING}/ccache-before.tsv`, MAX_STATS_BYTES);
  const after = await readBuiltFile(objDir, `${STAGING}/ccache-after.tsv`, MAX_STATS_BYTES);
  if (before !== null && after !== null) partial.ccache = ccacheUse(readCcacheStats(before), readCcacheStats(after));
  const { files, missing } = ending.exitCode === 0 ? await collectOutputs(spec, objDir, outDir) : { files: [], missing: [] };
  partial.files = files;
  const diskFull = partial.diagnostics.diskFull ? await lowOnSpace([outDir, ccacheDir], minFree) : null;
  return decideBuild(spec, ending, partial.diagnostics, missing, diskFull);
}

async function runContainer(
  docker: Docker,
  options: BuildKernelOptions,
  spec: KernelBuildSpec & { image: string },
  mounts: { user: string; objDir: string; ccacheDir: string; fragments: string[] },
  onOutput: (chunk: Buffer) => void,
): Promise<MakeEnding> {
  const create = buildContainerOptions({
    spec,
    name: `kto-build-${spec.name.slice(0, 40)}-${randomBytes(4).toString("hex")}`,
    owner: options.owner ?? ownerMark(),
    user: mounts.user,
    jobs: spec.cpus ?? availableParallelism(),
    tree: options.tree,
    objDir: mounts.objDir,
    ccacheDir: mounts.ccacheDir,
    ccacheMaxSize: options.ccacheMaxSize ?? "5G",
    ccacheReadOnly: options.ccacheReadOnly ?? false,
    fragments: mounts.fragments,
  });
  let container: Docker.Container | undefined;
  let stream: Readable | undefined;
  try {
    container = await docker.createContainer(create);
    stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
    // Both streams into one log, in the order they arrive: a compiler's error and make's line about it belong together.
    const streamEnded = demuxStreams(docker, stream, onOutput, onOutput);
    options.onProgress?.({ kind: "phase", build: spec.name, phase: "building" });
    await container.start();
    const ending = await waitWithLimits(container, spec.timeoutMs, options.signal, options.clock?.setTimer);
    await withTimeout(streamEnded, 10_000, "log stream did not end").catch(() => stream?.destroy());
    const state = (await container.inspect()).State as { OOMKilled?: boolean };
    return { ...ending, oomKilled: ending.reason === "exit" && state.OOMKilled === true };
  } finally {
    stream?.destroy();
    if (container) await removeContainer(container);
  }
}
