import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { OUTCOMES, TERMINAL_STATES, type Outcome, type TerminalState } from "../../config/job-spec.js";
import type { KnownScope } from "../../config/known-issues.js";
import { RESULTS_SCHEMA } from "../report/run-report.js";
import type { TestStatus } from "../results/types.js";
import { identityKey, identityText, isFailing, jobIdentity, pathText, type TestIdentity } from "./test-identity.js";

/** The case that stands for the job itself: it fails when the job failed in a way its cases do not show. */
export const JOB_CASE = "(job)";
/** Outcomes in which the job itself failed, whatever its cases say. */
const JOB_FAILURES: readonly Outcome[] = ["timed_out", "kernel_panic", "oops", "hang", "boot_failure", "config_error"];
/** Outcomes that say nothing about the kernel: the comparison is incomplete. */
const NO_VERDICT: readonly Outcome[] = ["infrastructure", "cancelled"];

/** Status of `kto compare`'s inputs that cannot be read as results. */
export class ResultsFileError extends Error {
  override readonly name = "ResultsFileError";
}

export interface CaseRecord {
  /** What identities are compared by (`identityKey`). */
  key: string;
  /** How the identity is shown: `job › suite › case`. */
  id: string;
  identity: TestIdentity;
  scope: KnownScope;
  /** The case's path below its job, as known issues match it. */
  path: string;
  status: TestStatus;
}

export interface JobOutcome {
  status: TerminalState;
  outcome: Outcome;
  reason: string;
}

/** One run's results, by test identity. */
export interface ResultsSet {
  source: string;
  jobs: Map<string, JobOutcome>;
  /** By identity key. */
  cases: Map<string, CaseRecord>;
  /** Why this set cannot answer for some of its tests: a job the host failed, cases not listed. */
  gaps: { job: string; reason: string }[];
  /** Jobs whose cases say nothing (the host failed, it was cancelled, or it listed none): their tests are not missing, only unknown. */
  unjudged: Set<string>;
  /** Tests that had an identity another test already had: kept apart by a suffix, and counted. */
  duplicates: number;
}

const caseSchema = z.object({
  path: z.array(z.string()),
  name: z.string(),
  status: z.enum(["passed", "failed", "skipped", "errored"]),
});

export const resultsJobSchema = z.object({
  name: z.string(),
  suite: z.string(),
  matrix: z.record(z.string()),
  status: z.enum(TERMINAL_STATES),
  outcome: z.enum(OUTCOMES),
  reason: z.string(),
  arch: z.string().optional(),
  labels: z.array(z.string()).optional(),
  cases: z.array(caseSchema).optional(),
  casesOmitted: z.number().int().min(0).optional(),
});

const fileSchema = z.object({ schema: z.literal(RESULTS_SCHEMA), jobs: z.array(resultsJobSchema) });

/** A job's entry in results.json, as history keeps and compares it. */
export type ResultsJobEntry = z.output<typeof resultsJobSchema>;

/** A results folder (its results.json) or a results.json itself. */
export async function readResultsSet(path: string): Promise<ResultsSet> {
  const file = (await stat(path).catch(() => null))?.isDirectory() ? join(path, "results.json") : path;
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ResultsFileError(
      `${file}: cannot read: ${error.code === "ENOENT" ? "no such file (a kto run's results folder has a results.json)" : error.message}`,
    );
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ResultsFileError(`${file}: not JSON: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ResultsFileError(
      `${file}: ${issue.path.join(".") || "the document"}: ${issue.message} (expected a ${RESULTS_SCHEMA} results.json of kto run or the kto action)`,
    );
  }
  return resultsSet(file, parsed.data.jobs);
}

/**
 * The job's own case: failed when the job never ran (the build it boots failed), ended in a
 * way that cut its results short (a panic, a hang, a timeout), or failed with no failing
 * case to say why (a build that broke, a non-zero exit); passed otherwise.
 */
function jobCaseStatus(job: z.output<typeof resultsJobSchema>, anyCaseFailing: boolean): TestStatus {
  if (job.status === "skipped" || JOB_FAILURES.includes(job.outcome)) return "failed";
  if (job.status !== "succeeded" && !anyCaseFailing) return "failed";
  return "passed";
}

export function resultsSet(source: string, jobs: readonly z.output<typeof resultsJobSchema>[]): ResultsSet {
  const set: ResultsSet = { source, jobs: new Map(), cases: new Map(), gaps: [], unjudged: new Set(), duplicates: 0 };
  for (const job of jobs) {
    const jobId = jobIdentity({ suite: job.suite, matrix: job.matrix });
    const scope: KnownScope = { suite: job.suite, arch: job.arch ?? job.matrix.arch ?? "", labels: job.labels ?? [] };
    set.jobs.set(jobId, { status: job.status, outcome: job.outcome, reason: job.reason });
    if (NO_VERDICT.includes(job.outcome)) {
      set.gaps.push({ job: jobId, reason: `${jobId} in ${source} ended ${job.outcome}: ${job.reason}` });
      set.unjudged.add(jobId);
      continue;
    }
    if (job.cases === undefined) {
      set.gaps.push({ job: jobId, reason: `${jobId} in ${source} lists no cases (written by a kto older than kto compare)` });
      set.unjudged.add(jobId);
      continue;
    }
    if (job.casesOmitted)
      set.gaps.push({ job: jobId, reason: `${jobId} in ${source} lists ${job.cases.length} of ${job.cases.length + job.casesOmitted} cases` });
    const jobCase = {
      path: [],
      name: JOB_CASE,
      status: jobCaseStatus(
        job,
        job.cases.some((c) => isFailing(c.status)),
      ),
    };
    const keyed = keyedCases(jobId, [jobCase, ...job.cases]);
    for (const c of keyed) {
      if (c.identity.occurrence > 1) set.duplicates += 1;
      set.cases.set(c.key, { key: c.key, id: identityText(c.identity), identity: c.identity, scope, path: pathText(c.path, c.name), status: c.status });
    }
  }
  return set;
}

/**
 * Each case with its identity: the second case of one path and name in a run is `(#2)`.
 * Occurrences are counted per path and name, so a run of 100,000 cases of one name costs no
 * more than of distinct ones. History stores cases under these keys, so a run read back from
 * it is keyed as its results.json is.
 */
export function keyedCases<C extends { path: string[]; name: string; status: TestStatus }>(
  job: string,
  cases: readonly C[],
): (C & { key: string; identity: TestIdentity })[] {
  const seen = new Map<string, number>();
  return cases.map((c) => {
    const base = identityKey({ job, path: c.path, name: c.name, occurrence: 1 });
    const occurrence = (seen.get(base) ?? 0) + 1;
    seen.set(base, occurrence);
    const identity = { job, path: c.path, name: c.name, occurrence };
    return { ...c, key: occurrence > 1 ? identityKey(identity) : base, identity };
  });
}

/** `set` with only the jobs `keep` names: a baseline narrowed to what a run planned (`kto run -s SUITE`). */
export function onlyJobs(set: ResultsSet, keep: ReadonlySet<string>): ResultsSet {
  return {
    ...set,
    jobs: new Map([...set.jobs].filter(([job]) => keep.has(job))),
    cases: new Map([...set.cases].filter(([, c]) => keep.has(c.identity.job))),
    gaps: set.gaps.filter((gap) => keep.has(gap.job)),
    unjudged: new Set([...set.unjudged].filter((job) => keep.has(job))),
  };
}
