import { ConfigError } from "../config/errors.js";
import type { JobSpec } from "../config/job-spec.js";
import { treeProblems } from "../config/kernel-tree.js";
import type { LoadedConfig } from "../config/load-config.js";

/**
 * Before anything runs: every fragment and defconfig the plan's builds read must be a file
 * of the tree, each missing one named at its config line, so a typo costs no build.
 */
export async function refuseMissingTreeFiles(loaded: LoadedConfig, tree: string, jobs: readonly JobSpec[]): Promise<void> {
  const builds = jobs.filter((job) => job.runner === "build").map((job) => job.suite);
  if (builds.length === 0) return;
  const problems = await treeProblems(loaded, tree, builds);
  if (problems.length > 0) throw new ConfigError(problems);
}
