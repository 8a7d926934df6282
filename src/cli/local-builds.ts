import { join } from "node:path";
import { buildNeeded } from "../config/job-spec.js";
import type { JobReads, JobRecord } from "../orchestrator/store/store.js";
import { BuildHandoffError } from "../runners/build/build-handoff.js";
import type { BuildOutputs, RunResult } from "../runners/types.js";

/**
 * Where a local job finds the build it boots: that build job of its plan ran on this
 * machine and left its outputs in its own dir of the results folder, with their digests in
 * its result. Nothing for a job that boots no build; BuildHandoffError when the build has
 * not succeeded (the orchestrator does not dispatch such a job, so its outputs went missing).
 */
export async function localBuildOutputs(reads: JobReads, outDir: string, job: Pick<JobRecord, "planId" | "spec">): Promise<BuildOutputs | undefined> {
  const needed = buildNeeded(job.spec);
  if (needed === undefined) return undefined;
  const build = (await reads.jobs.list({ planId: job.planId })).find((j) => j.spec.id === needed);
  const result = build?.result as (RunResult & { dir?: string }) | null | undefined;
  if (!build || build.state !== "succeeded" || !result?.build) throw new BuildHandoffError(`build ${needed} has no outputs to boot: it has not succeeded`);
  return { dir: join(outDir, result.dir ?? join("jobs", build.spec.slug), result.build.dir), files: result.build.files };
}
