import { buildHandoffSchema } from "../config/job-spec-schema.js";
import type { BuildHandoff, BuildOutputFile, JobSpec } from "../config/job-spec.js";
import type { JobRecord } from "./store/store.js";

/** The artifact a build job's run uploads its outputs as, and a dependent's run downloads. */
export function buildArtifactName(build: Pick<JobSpec, "slug">): string {
  return `kto-build-${build.slug}`;
}

const outputFileSchema = buildHandoffSchema.shape.files.element;

/**
 * The outputs a build job's stored result lists (`result.build.files`, its BuildResult's
 * files as the runner reported them): only entries that are whole, one per role, so that a
 * report from an older runner or one cut short hands on less, never a wrong file.
 */
export function outputFilesOf(result: unknown): BuildOutputFile[] {
  const build = (result as { build?: { files?: unknown } } | null)?.build;
  const listed = Array.isArray(build?.files) ? (build.files as unknown[]) : [];
  const byRole = new Map<string, BuildOutputFile>();
  for (const entry of listed) {
    const file = outputFileSchema.safeParse(entry);
    if (file.success && !byRole.has(file.data.role)) byRole.set(file.data.role, file.data);
  }
  return [...byRole.values()];
}

/** Where a job that boots `build` finds its outputs: what its dispatch carries. */
export function buildHandoff(build: Pick<JobRecord, "id" | "runId" | "spec" | "result">): BuildHandoff {
  return { jobId: build.id, runId: build.runId, artifact: buildArtifactName(build.spec), files: outputFilesOf(build.result) };
}
