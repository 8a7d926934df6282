import { formatPath, type ConfigIssue } from "./errors.js";
import type { JobSpec } from "./job-spec.js";
import { DEFAULT_CONFIG_PATH, type LoadedConfig } from "./load-config.js";
import { excessOver, type PrivilegeAllowance } from "./privileges.js";

/** Whose word a base branch's `privileges:` is, as a refusal names it. */
export const BASE_GRANTOR = `privileges in the base branch's ${DEFAULT_CONFIG_PATH}`;

export interface Narrowed {
  allowed: JobSpec[];
  /** One issue per field asked for and not allowed, at that field of the head's config. */
  refused: ConfigIssue[];
}

/**
 * The jobs of `specs` (planned from the head's `loaded` config) that ask for no more than
 * the base branch's `privileges:` allows; a suite that asks for more loses all its jobs.
 * Without `privileges:` on the base, the runner host's policy alone decides, as it does
 * in any case: this only narrows it.
 */
export function narrowToBase(loaded: LoadedConfig, specs: readonly JobSpec[], base: PrivilegeAllowance | undefined): Narrowed {
  if (!base) return { allowed: [...specs], refused: [] };
  const refusedSuites = new Set<string>();
  const refused: ConfigIssue[] = [];
  for (const spec of specs) {
    if (spec.runner !== "docker" || refusedSuites.has(spec.suite)) continue;
    const excess = excessOver(spec, base, BASE_GRANTOR);
    if (excess.length === 0) continue;
    refusedSuites.add(spec.suite);
    const index = loaded.config.suites.findIndex((suite) => suite.name === spec.suite);
    for (const { path, message } of excess) {
      const at = ["suites", index, ...path];
      refused.push({ file: loaded.file, ...loaded.locate(at), path: formatPath(at), message });
    }
  }
  return { allowed: specs.filter((spec) => !refusedSuites.has(spec.suite)), refused };
}
