import type { KnownIssue, KnownIssues, KnownScope } from "../../config/known-issues.js";
import { JOB_CASE, type CaseRecord, type ResultsSet } from "./results-set.js";
import { isFailing } from "./test-identity.js";

/** Commits in a row at which a known issue's tests all passed before it is pointed out for removal. */
export const KNOWN_PASSES_TO_REMOVE = 10;
/**
 * Glob tries (and binary-search steps) one look may make: it runs on the event loop with
 * every judgement, so it must stay within tens of milliseconds. A glob with a literal start
 * is tried only on the names that start with it; one that starts with a wildcard (or with a
 * start every test shares) on every test of its jobs, which a big job soon exhausts.
 */
const TRIES = 200_000;
/** Tests an answer names for each entry. */
const NAMED = 3;

/** A known issue (expected to fail, not intermittent) whose tests passed at each of the last `commits` commits that ran them. */
export interface PassingKnownIssue {
  entry: number;
  link?: string;
  commits: number;
  /** Some of the tests it covers, as shown (`job › suite › case`). */
  tests: string[];
}

export interface KnownPassing {
  issues: PassingKnownIssue[];
  /** Entries left unlooked at when the look ran out of tries: none of them is named. */
  unchecked: number;
}

/** A job's tests sorted by path, for finding those a glob's literal start admits. */
interface JobTests {
  scope: KnownScope;
  byPath: CaseRecord[];
}

const indexed = new WeakMap<ResultsSet, JobTests[]>();

function jobsOf(set: ResultsSet): JobTests[] {
  let jobs = indexed.get(set);
  if (jobs) return jobs;
  const byJob = new Map<string, JobTests>();
  for (const test of set.cases.values()) {
    // The job's own case stands for how the job ended, not for any test a known issue names.
    if (test.identity.name === JOB_CASE && test.identity.path.length === 0) continue;
    let job = byJob.get(test.identity.job);
    if (!job) byJob.set(test.identity.job, (job = { scope: test.scope, byPath: [] }));
    job.byPath.push(test);
  }
  jobs = [...byJob.values()];
  for (const job of jobs) job.byPath.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  indexed.set(set, jobs);
  return jobs;
}

/** The first index of `sorted` whose path is not before `prefix`. */
function firstFrom(sorted: readonly CaseRecord[], prefix: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid]!.path < prefix) low = mid + 1;
    else high = mid;
  }
  return low;
}

type RunLook = { ran: boolean; failed: boolean; passed: CaseRecord[] } | "out of tries";

/** One run of the base branch: several at one commit (a re-run) count as one commit. */
export interface BaseRun {
  commit: string;
  set: ResultsSet;
}

/**
 * Known issues whose tests have passed at `atLeast` commits in a row: each may be ready to
 * go. `runs` are the job's runs on the base branch, newest first. A run that did not run the
 * entry's tests (another suite, a job that stopped before them, a skip) neither counts nor
 * breaks the passes; one in which any of them failed ends them. An entry kept for a test
 * that fails now and then (`intermittent`) or expected to be skipped is never named.
 */
export function knownIssuesPassing(known: KnownIssues, runs: readonly BaseRun[], atLeast = KNOWN_PASSES_TO_REMOVE): KnownPassing {
  const issues: PassingKnownIssue[] = [];
  const candidates = known.entries.filter((entry) => entry.expect === "fail" && !entry.intermittent);
  if (new Set(runs.map((run) => run.commit)).size < atLeast) return { issues, unchecked: 0 };
  const budget = { tries: TRIES };
  for (const [n, entry] of candidates.entries()) {
    const passedAt = new Set<string>();
    const named = new Set<string>();
    for (const run of runs) {
      const look = lookAt(known, entry, run.set, budget);
      if (look === "out of tries") return { issues, unchecked: candidates.length - n };
      if (look.failed) break;
      if (!look.ran) continue;
      passedAt.add(run.commit);
      for (const test of look.passed) if (named.size < NAMED) named.add(test.id);
    }
    if (passedAt.size >= atLeast) issues.push({ entry: entry.index, ...(entry.link ? { link: entry.link } : {}), commits: passedAt.size, tests: [...named] });
  }
  return { issues, unchecked: 0 };
}

function lookAt(known: KnownIssues, entry: KnownIssue, run: ResultsSet, budget: { tries: number }): RunLook {
  const look = { ran: false, failed: false, passed: [] as CaseRecord[] };
  for (const job of jobsOf(run)) {
    if (!known.inScope(entry, job.scope)) continue;
    for (const glob of known.globs[entry.index]!) {
      budget.tries -= Math.ceil(Math.log2(job.byPath.length + 1));
      for (let i = firstFrom(job.byPath, glob.prefix); i < job.byPath.length; i++) {
        const test = job.byPath[i]!;
        if (!test.path.startsWith(glob.prefix)) break;
        if (--budget.tries < 0) return "out of tries";
        if (!glob.matches(test.path)) continue;
        if (isFailing(test.status)) {
          look.failed = true;
          return look;
        }
        if (test.status === "passed") {
          look.ran = true;
          if (look.passed.length < NAMED) look.passed.push(test);
        }
      }
    }
  }
  return look;
}
