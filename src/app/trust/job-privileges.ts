import { isRootUser } from "../../config/docker-access.js";
import type { JobSpec } from "../../config/job-spec.js";

/**
 * What a job asks of the runner host beyond kto's isolation defaults (an unprivileged user,
 * no capabilities, no devices, no network), one grant each: what a maintainer weighs before
 * approving a plan kto holds. Only a docker job can ask for any of them.
 */
export function privilegesOf(spec: JobSpec): string[] {
  if (spec.runner !== "docker") return [];
  return [
    ...(spec.user !== undefined && isRootUser(spec.user) ? ["user: root"] : []),
    ...(spec.capabilities ?? []).map((capability) => `capability: ${capability}`),
    ...(spec.devices ?? []).map((device) => `device: ${device}`),
    ...(spec.network ? ["network"] : []),
  ];
}

/**
 * The grants a held plan's jobs ask for, each with how many jobs ask: the paragraph of the
 * approval check run a maintainer reads before the list of jobs, which a long plan cuts short.
 */
export function privilegesParagraph(specs: readonly JobSpec[]): string {
  const asking = new Map<string, number>();
  for (const spec of specs) for (const grant of privilegesOf(spec)) asking.set(grant, (asking.get(grant) ?? 0) + 1);
  if (asking.size === 0) return "They ask for nothing beyond kto's isolation defaults: an unprivileged user, no capabilities, no devices, no network.";
  const lines = [...asking].map(([grant, jobs]) => `- \`${grant}\`: ${jobs === specs.length ? "every job" : `${jobs} of ${specs.length} jobs`}`);
  return `They ask the runner host for more than kto's isolation defaults; approve only if the code may have it:\n\n${lines.join("\n")}`;
}
