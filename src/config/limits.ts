/**
 * Bounds on what a config can make kto do. The App reads the config of a pull request's
 * head, forks included, before any trust gate: whatever the text, parsing and planning
 * it must end quickly, in bounded memory, with a config error at worst.
 */

/** Larger than any honest kto.yml by two orders of magnitude. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** kto's schema is five levels deep: this is room to spare, and far short of where yaml's parser runs out of stack. */
export const MAX_CONFIG_DEPTH = 64;

/**
 * Values (scalars, keys and collections) a config may hold once every alias counts as a
 * copy of its anchor's contents: an honest kto.yml holds a few thousand; an alias bomb, billions.
 */
export const MAX_CONFIG_VALUES = 250_000;

/** Job caps a config may set under `limits:`; `ceiling` is what no config can raise them past. */
export const JOB_LIMITS = {
  // GitHub Actions caps a matrix at 256 jobs too.
  jobs_per_suite: { default: 256, ceiling: 1024 },
  // The ceiling is the most any config can make the App store and report on: each job is a
  // row, a check run and, once approved, a workflow dispatch. A plan that is not trusted (a
  // fork's) is held to its base branch's caps instead of its own.
  jobs_per_plan: { default: 1024, ceiling: 4096 },
} as const;

/** The job caps in force for a plan, as `limits:` sets them. */
export type JobCaps = { [name in keyof typeof JOB_LIMITS]: number };

/**
 * Job caps that bound a plan in place of its own config's, and where they were set: a
 * config that is not trusted (a fork's) cannot raise the caps its plan is held to.
 */
export interface ImposedCaps {
  caps: JobCaps;
  /** Where the caps come from, as the message of a plan past them says it, e.g. "on the base branch main". */
  setOn: string;
}

/** Every job is dispatched as a workflow input, and GitHub caps all inputs together at 65,535 characters. */
export const MAX_JOB_SPEC_CHARS = 60 * 1024;

/** What the plan's specs may add up to, as JSON: the App stores each one, the CLI holds them all. */
export const MAX_PLAN_SPEC_CHARS = 16 * 1024 * 1024;

/** GitHub ends a job on a self-hosted runner after 5 days, whatever its workflow asks. */
export const GITHUB_JOB_MINUTES = 5 * 24 * 60;

/**
 * What a run needs beyond its job's own timeout: the checkout, an image pull, the kernel's
 * copy, the upload of results and the final report. The runner workflow's timeout is the
 * job's plus this, so GitHub never stops a run that kto's own timeout would still let run.
 */
export const RUN_OVERHEAD_MINUTES = 30;

/**
 * Duration caps. A job's timeout leaves its run's overhead inside GitHub's 5 days; Node's
 * timers (at most 2^31-1 ms, about 24.8 days) hold both well.
 */
export const MAX_TIMEOUT_MS = (GITHUB_JOB_MINUTES - RUN_OVERHEAD_MINUTES) * 60_000;
export const MAX_IDLE_TIMEOUT_MS = 86_400_000;

/** The `timeout-minutes` of the run a job with `timeoutMs` is dispatched as. */
export function runTimeoutMinutes(timeoutMs: number): number {
  return Math.min(GITHUB_JOB_MINUTES, Math.ceil(timeoutMs / 60_000) + RUN_OVERHEAD_MINUTES);
}

/** Problems listed in one ConfigError; the rest are counted, so the App's check run stays postable. */
export const MAX_LISTED_ISSUES = 100;
