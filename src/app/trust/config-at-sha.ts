import { ConfigError, type ConfigIssue } from "../../config/errors.js";
import { buildPlan, type PlanOptions } from "../../config/build-plan.js";
import type { Plan } from "../../config/job-spec.js";
import { DEFAULT_CONFIG_PATH, parseConfig, type LoadedConfig } from "../../config/load-config.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import type { Octokit } from "../github/github-api.js";

export type ConfigAtRef = { kind: "missing" } | { kind: "invalid"; issues: readonly ConfigIssue[] } | { kind: "ok"; loaded: LoadedConfig };
export type ConfigAtSha = Exclude<ConfigAtRef, { kind: "ok" }> | { kind: "ok"; loaded: LoadedConfig; plan: Plan };

/** `.github/kto.yml` as it is at a commit, branch or tag. */
export async function configAtRef(octokit: Octokit, owner: string, repo: string, ref: string): Promise<ConfigAtRef> {
  let text: string;
  try {
    const { data } = await octokit.rest.repos.getContent({ owner, repo, path: DEFAULT_CONFIG_PATH, ref });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data))
      return { kind: "invalid", issues: [{ file: DEFAULT_CONFIG_PATH, line: 1, column: 1, path: "", message: "is not a file" }] };
    text = Buffer.from(data.content, "base64").toString("utf8");
  } catch (error) {
    if (httpStatusOf(error) === 404) return { kind: "missing" };
    throw error;
  }
  try {
    return { kind: "ok", loaded: parseConfig(text, DEFAULT_CONFIG_PATH) };
  } catch (error) {
    if (error instanceof ConfigError) return { kind: "invalid", issues: error.issues };
    throw error;
  }
}

/** `.github/kto.yml` at the commit under test, and the plan of its suites (`options` as buildPlan takes them). */
export async function configAtSha(octokit: Octokit, owner: string, repo: string, sha: string, options: PlanOptions = {}): Promise<ConfigAtSha> {
  const config = await configAtRef(octokit, owner, repo, sha);
  if (config.kind !== "ok") return config;
  return planOf(config.loaded, options);
}

/** The plan of a config read already, or its problems. */
export function planOf(loaded: LoadedConfig, options: PlanOptions = {}): Exclude<ConfigAtSha, { kind: "missing" }> {
  try {
    return { kind: "ok", loaded, plan: buildPlan(loaded, options) };
  } catch (error) {
    if (error instanceof ConfigError) return { kind: "invalid", issues: error.issues };
    throw error;
  }
}
