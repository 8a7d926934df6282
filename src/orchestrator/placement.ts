import { labelsFit } from "./labels.js";
import { admits, type RunnerScope, type JobOrigin } from "./scope.js";

/** What a match reads of a job: the labels it asks for and the repository it comes from. */
export interface Placeable extends JobOrigin {
  labels: readonly string[];
}

/** What a match reads of a runner. */
export interface Placement {
  labels: ReadonlySet<string> | readonly string[];
  scope: RunnerScope;
}

/**
 * Whether a job may be leased to a runner: it has every label the job asks for, and
 * GitHub would give the job's repository its runner. Every dispatch path asks this, and
 * nothing else, so none can match on labels alone.
 */
export function fits(job: Placeable, env: Placement): boolean {
  return labelsFit(job.labels, env.labels) && admits(env.scope, job);
}
