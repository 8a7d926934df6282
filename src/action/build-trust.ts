import * as github from "@actions/github";
import type { DispatchedJob } from "../config/job-spec-schema.js";
import { ccacheScope, ccacheSettings, type CcacheSettings } from "../runners/build/build-job.js";

/**
 * Whether this run's code may add to the host's compiler cache. A build runs the tree's own
 * Makefiles, so whatever it writes to the cache, later builds take as their objects: only a
 * plan the App's trust gate let through on its own writes. Without the App, a pull request
 * from a fork is untrusted. Anything unknown is untrusted.
 */
export function buildsTrusted(job: DispatchedJob | null, payload: Record<string, unknown> = github.context.payload): boolean {
  if (job) return job.trusted === true;
  const pull = payload.pull_request as { head?: { repo?: { full_name?: string } | null } } | undefined;
  if (!pull) return true;
  const base = (payload.repository as { full_name?: string } | undefined)?.full_name;
  return pull.head?.repo?.full_name !== undefined && pull.head.repo.full_name === base;
}

/** The host's compiler cache as this run's builds use it: the repository's own, read-only unless trusted. */
export function runCcache(job: DispatchedJob | null, env: NodeJS.ProcessEnv = process.env): CcacheSettings {
  return { ...ccacheSettings("host", env), scope: ccacheScope(env.GITHUB_REPOSITORY ?? "unknown"), readOnly: !buildsTrusted(job) };
}
