import * as core from "@actions/core";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { buildNeeded, type BuildHandoff, type JobSpec } from "../config/job-spec.js";
import { BuildHandoffError, checkBuildOutputs } from "../runners/build/build-handoff.js";
import { MANIFEST } from "../runners/build/build-result.js";
import { keepOutputs, takeOutputs } from "../runners/build/output-store.js";
import type { BuildJobResult } from "../runners/build/build-job.js";
import type { BuildOutputs, RunResult } from "../runners/types.js";
import { printLog } from "./workflow-log.js";
import { artifactService, type Uploaded } from "./artifact-service.js";

/** The artifact a build job's outputs are uploaded as; the App hands this name on to the jobs that boot them. */
export function buildArtifactName(slug: string): string {
  return `kto-build-${slug}`;
}

/**
 * Uploads a build's outputs (the files of its manifest, and the manifest) as one artifact
 * of this workflow run, so people download them from the Actions UI and jobs on other
 * hosts boot them; and keeps them in this host's store for jobs that run here.
 */
export async function handOnBuild(
  slug: string,
  jobDir: string,
  build: BuildJobResult,
  store: string,
  retentionDays: number | null,
  warn: (message: string) => void = core.warning,
): Promise<Uploaded | null> {
  const dir = join(jobDir, build.dir);
  await keepOutputs(store, { dir, files: build.files }).catch((error: Error) =>
    warn(`could not keep the build's outputs on this host (${error.message}); jobs here will download them`),
  );
  try {
    const files = [...build.files.map((f) => join(dir, f.path)), join(dir, MANIFEST)];
    return await artifactService().upload(buildArtifactName(slug), files, dir, retentionDays);
  } catch (error) {
    warn(`could not upload the build's outputs as an artifact (${(error as Error).message}); only jobs on this host can boot them`);
    return null;
  }
}

/**
 * The outputs of the build a job boots: this host's copy when it built them (each file
 * checked by digest), else the artifact of the build's workflow run, downloaded with a
 * token that may read the repository's actions. Throws BuildHandoffError (retried
 * elsewhere) when neither is to be had.
 */
export async function obtainBuild(handoff: BuildHandoff, store: string, scratch: string, token: string | null): Promise<BuildOutputs> {
  const local = await takeOutputs(store, handoff.files, await mkdtemp(join(scratch, "kto-build-local-"))).catch(() => null);
  if (local) {
    printLog(`kto: using this host's copy of build ${handoff.jobId}`);
    return local;
  }
  if (handoff.runId === null) throw new BuildHandoffError(`build ${handoff.jobId} was not made on this host and names no workflow run to download it from`);
  if (!token) throw new BuildHandoffError(`downloading build ${handoff.jobId}'s artifact needs the github-token input (with actions: read)`);
  const dir = await mkdtemp(join(scratch, "kto-build-download-"));
  try {
    // The outputs at their sizes, and the manifest, which is small.
    const expected = new Map([...handoff.files.map((f) => [f.path, f.size] as const), [MANIFEST, 1024 * 1024]]);
    await artifactService().download(handoff.artifact, Number(handoff.runId), dir, token, expected);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new BuildHandoffError(`could not download artifact ${handoff.artifact} of run ${handoff.runId}: ${(error as Error).message}`, { cause: error });
  }
  const outputs = { dir, files: handoff.files };
  await checkBuildOutputs(outputs).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  printLog(`kto: downloaded build ${handoff.jobId} from run ${handoff.runId}`);
  await keepOutputs(store, outputs).catch(() => undefined);
  return outputs;
}

export interface BuildSources {
  /** A dispatched job's handoff. */
  handoff: BuildHandoff | undefined;
  /** The jobs this action ran before, for a config it runs on its own: a build among them is at hand. */
  earlier: readonly { spec: JobSpec; result: RunResult; dir: string }[];
  outDir: string;
  store: string;
  scratch: string;
  token: string | null;
}

/**
 * The outputs of the build `spec` boots, or why it is skipped (its build did not
 * succeed), or nothing for a job that boots no build. Throws BuildHandoffError when the
 * outputs cannot be had.
 */
export async function buildFor(spec: JobSpec, sources: BuildSources): Promise<{ outputs: BuildOutputs } | { skip: string } | null> {
  const needed = buildNeeded(spec);
  if (needed === undefined) return null;
  if (sources.handoff) return { outputs: await obtainBuild(sources.handoff, sources.store, sources.scratch, sources.token) };
  const built = sources.earlier.find((r) => r.spec.id === needed);
  if (!built?.result.build) throw new BuildHandoffError(`build ${needed} was not run before this job`);
  if (built.result.status !== "succeeded") return { skip: `build ${needed} did not succeed: ${built.result.reason}` };
  return { outputs: { dir: join(sources.outDir, built.dir, built.result.build.dir), files: built.result.build.files } };
}
