import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { OUTCOMES, TERMINAL_STATES, type Outcome, type TerminalState } from "../../config/job-spec.js";
import type { KnownScope } from "../../config/known-issues.js";
import { RESULTS_SCHEMA } from "../report/run-report.js";
import type { TestStatus } from "../results/types.js";
import { jobIdentity, pathIdentity, testIdentity } from "./test-identity.js";

/** The case that stands for the job itself: it fails when the job ended before its results could (a panic, a hang, a timeout). */
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
  id: string;
  job: string;
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
  cases: Map<string, CaseRecord>;
  /** Why this set cannot answer for some of its tests: a job the host failed, cases not listed. */
  gaps: string[];
  /** Tests that had an identity another test already had: kept apart by a suffix, and counted. */
  duplicates: number;
}

const caseSchema = z.object({
  path: z.array(z.string()),
  name: z.string(),
  status: z.enum(["passed", "failed", "skipped", "errored"]),
});

const jobSchema = z.object({
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

const fileSchema = z.object({ schema: z.literal(RESULTS_SCHEMA), jobs: z.array(jobSchema) });

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

export function resultsSet(source: string, jobs: readonly z.output<typeof jobSchema>[]): ResultsSet {
  const set: ResultsSet = { source, jobs: new Map(), cases: new Map(), gaps: [], duplicates: 0 };
  const suffixes = new Map<string, number>();
  for (const job of jobs) {
    const identity = { suite: job.suite, matrix: job.matrix };
    const jobId = jobIdentity(identity);
    const scope: KnownScope = { suite: job.suite, arch: job.arch ?? job.matrix.arch ?? "", labels: job.labels ?? [] };
    set.jobs.set(jobId, { status: job.status, outcome: job.outcome, reason: job.reason });
    if (NO_VERDICT.includes(job.outcome)) {
      set.gaps.push(`${jobId} in ${source} ended ${job.outcome}: ${job.reason}`);
      continue;
    }
    if (job.cases === undefined) {
      set.gaps.push(`${jobId} in ${source} lists no cases (written by a kto older than kto compare)`);
      continue;
    }
    if (job.casesOmitted) set.gaps.push(`${jobId} in ${source} lists ${job.cases.length} of ${job.cases.length + job.casesOmitted} cases`);
    const add = (path: string[], name: string, status: TestStatus) => {
      let id = testIdentity(identity, path, name);
      if (set.cases.has(id)) {
        // Counted per identity, so a run of 100,000 cases of one name costs no more than 100,000 distinct ones.
        let n = (suffixes.get(id) ?? 1) + 1;
        while (set.cases.has(`${id} (${n})`)) n += 1;
        suffixes.set(id, n);
        set.duplicates += 1;
        id = `${id} (${n})`;
      }
      set.cases.set(id, { id, job: jobId, scope, path: pathIdentity(path, name), status });
    };
    add([], JOB_CASE, JOB_FAILURES.includes(job.outcome) ? "failed" : "passed");
    for (const c of job.cases) add(c.path, c.name, c.status);
  }
  return set;
}
