import * as core from "@actions/core";
import { z } from "zod";
import { dispatchedJobSchema, type DispatchedJob } from "../config/job-spec-schema.js";

export class ActionInputError extends Error {
  override readonly name = "ActionInputError";
  constructor(
    readonly input: string,
    detail: string,
  ) {
    super(`input "${input}": ${detail}`);
  }
}

export interface Inputs {
  /** The App's job; absent when the action runs suites from a config on its own. */
  job: DispatchedJob | null;
  config: string;
  suites: string[];
  appUrl: string | null;
  githubToken: string | null;
  retentionDays: number | null;
  artifactName: string | null;
}

function parseJson(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ActionInputError(name, `not JSON: ${(error as Error).message}`);
  }
}

/** Every input, read once and checked; throws ActionInputError naming the input on a bad value. */
export function getInputs(): Inputs {
  const jobText = core.getInput("job");
  let job: DispatchedJob | null = null;
  if (jobText) {
    const parsed = dispatchedJobSchema.safeParse(parseJson("job", jobText));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ActionInputError("job", `${issue.path.join(".") || "(root)"}: ${issue.message}`);
    }
    job = parsed.data;
  }
  const appUrl = core.getInput("app-url") || null;
  if (appUrl && !z.string().url().safeParse(appUrl).success) throw new ActionInputError("app-url", `not a URL: ${appUrl}`);
  if (appUrl && !job) throw new ActionInputError("app-url", "reports go to the App only for a job it dispatched (set job)");
  const retentionText = core.getInput("retention-days");
  const retentionDays = retentionText ? Number(retentionText) : null;
  if (retentionDays !== null && (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 90))
    throw new ActionInputError("retention-days", `expected a whole number from 1 to 90, got "${retentionText}"`);
  const githubToken = core.getInput("github-token") || null;
  if (githubToken) core.setSecret(githubToken);
  return {
    job,
    config: core.getInput("config") || ".github/kto.yml",
    suites: core
      .getInput("suite")
      .split(/[\s,]+/)
      .filter(Boolean),
    appUrl,
    githubToken,
    retentionDays,
    artifactName: core.getInput("artifact-name") || null,
  };
}
