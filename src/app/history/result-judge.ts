import type { ResultHistory, ResultRun } from "../../orchestrator/store/result-history.js";
import type { JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import { errorText } from "../../orchestrator/logger.js";
import { compareResults, flakyAcross, type CompareOptions, type Comparison } from "../../runners/history/comparison.js";
import { resultsSet, type ResultsJobEntry, type ResultsSet } from "../../runners/history/results-set.js";
import { splitRepo, type OctokitFor } from "../github/github-api.js";
import type { CommitAncestry } from "./commit-ancestry.js";
import type { ResultsPolicyReader } from "./results-policy.js";

/** Base-branch runs of a job read to tell a flaky test: the nearest with results. */
const FLAKY_WINDOW = 10;

/** The run a job's results were compared with. */
export interface Baseline {
  sha: string;
  /** 0 at the merge base (or a branch commit's parent), else how many commits older than it. */
  commitsOlder: number;
  /** Whether the first candidate was a pull request's merge base. */
  fromMergeBase: boolean;
  jobId: string;
}

/** A finished job's results next to its baseline's, and what the base branch's policy makes of them. */
export interface Judgement {
  comparison: Comparison;
  baseline: Baseline | null;
  failOn: "regressions" | "failures";
  /** Regressions: tests that passed on the baseline and fail now, and new tests that fail. */
  regressions: number;
  /** What the check run concludes; null leaves it to the job's state (policy `failures`, or the answer is incomplete). */
  conclusion: "success" | "failure" | null;
  /** Why the judgement may be less than it seems: no baseline, an unreadable known-issues file, an incomplete comparison. */
  notes: string[];
}

export interface ResultJudgeDeps {
  history: Pick<ResultHistory, "runOf" | "runsAt" | "casesOf">;
  ancestry: Pick<CommitAncestry, "of">;
  policy: Pick<ResultsPolicyReader, "at">;
  octokitFor: OctokitFor;
}

/** A stored run as a results set, keyed exactly as its results.json would be. */
export async function storedSet(history: Pick<ResultHistory, "casesOf">, run: ResultRun, source: string): Promise<ResultsSet> {
  const cases = (await history.casesOf(run.id)) as ResultsJobEntry["cases"] & object;
  return resultsSet(source, [{ ...(run.entry as Omit<ResultsJobEntry, "cases">), cases }]);
}

const short = (sha: string) => sha.slice(0, 7);

/**
 * A job's results against base-branch runs of it, nearest first: compared with the nearest,
 * a test whose results disagree across the nearest commits' runs taken as flaky. The check
 * run and the dashboard both classify through this.
 */
export async function compareWithBaseRuns(
  history: Pick<ResultHistory, "casesOf">,
  headSet: ResultsSet,
  runs: readonly ResultRun[],
  options: { known?: CompareOptions["known"] } = {},
): Promise<{ comparison: Comparison; nearest: ResultRun | null }> {
  const nearest = runs[0] ?? null;
  const baseSet = nearest ? await storedSet(history, nearest, short(nearest.sha)) : resultsSet("no baseline", []);
  const window = runs.filter((run, i) => runs.findIndex((r) => r.sha === run.sha) === i).slice(0, FLAKY_WINDOW);
  const flaky = window.length > 1 ? flakyAcross(await Promise.all(window.map((run) => storedSet(history, run, short(run.sha))))) : new Set<string>();
  return { comparison: compareResults(baseSet, headSet, { ...options, flaky }), nearest };
}

/**
 * Judges a finished job by its results against its baseline: the same job's newest results
 * at the nearest base-branch commit that has them. Red under `fail_on: regressions` only for
 * a test that passed there and fails now, or a new test that fails; a failure that was
 * already there, a known issue or a flaky test is reported and does not make it red.
 */
export class ResultJudge {
  constructor(private readonly deps: ResultJudgeDeps) {}

  /** Null when the job sent no cases (a runner older than history): its state decides alone. */
  async judge(job: JobRecord, plan: PlanRecord): Promise<Judgement | null> {
    if (!plan.repo || !plan.headSha || plan.installationId === null) return null;
    const head = await this.deps.history.runOf(job.id, job.attempt);
    if (!head) return null;
    const notes: string[] = [];
    const headSet = await storedSet(this.deps.history, head, short(plan.headSha));
    const { owner, repo } = splitRepo(plan.repo);
    let baseRef = plan.defaultRef;
    let candidates: string[] = [];
    let mergeBase: string | null = null;
    try {
      const commits = await this.deps.ancestry.of(plan);
      baseRef = commits.baseRef ?? baseRef;
      candidates = commits.shas;
      mergeBase = commits.mergeBase;
    } catch (error) {
      notes.push(`The base branch's commits could not be read (${errorText(error)}), so no baseline was looked for.`);
    }
    const policy = await this.deps.policy.at(await this.deps.octokitFor(plan.installationId), owner, repo, baseRef ?? plan.headSha);
    if (policy.knownProblem) notes.push(`${policy.knownProblem}; no failure is taken as known until it is fixed.`);
    // A pull request with no commits of its own sits on its merge base: its own plan is no baseline.
    const runs = (await this.deps.history.runsAt(plan.repo, head.jobKey, candidates)).filter((run) => run.planId !== plan.id);
    const order = new Map(candidates.map((sha, i) => [sha, i]));
    // Nearest commit first, and at one commit the newest run.
    runs.sort((a, b) => order.get(a.sha)! - order.get(b.sha)! || b.finishedAt - a.finishedAt || b.id - a.id);
    const { comparison, nearest } = await compareWithBaseRuns(this.deps.history, headSet, runs, { known: policy.known });
    let baseline: Baseline | null = null;
    if (nearest) baseline = { sha: nearest.sha, commitsOlder: order.get(nearest.sha)!, fromMergeBase: mergeBase !== null, jobId: nearest.jobId };
    else if (candidates.length > 0)
      notes.push(
        `No results of this job on ${baseRef ?? "the base branch"} in the ${candidates.length} commits from ${short(candidates[0]!)} back: every failing test counts as new.`,
      );
    const regressions = comparison.counts.new + comparison.failingNewTests;
    let conclusion: Judgement["conclusion"] = null;
    const noVerdict = job.outcome === "infrastructure" || job.state === "cancelled" || job.state === "skipped";
    if (policy.failOn === "regressions" && !noVerdict && job.state !== "succeeded") {
      if (regressions > 0) conclusion = "failure";
      else if (comparison.incomplete.length === 0) conclusion = "success";
      else notes.push("The comparison is incomplete (see below), so the job's own result decides.");
    }
    return { comparison, baseline, failOn: policy.failOn, regressions, conclusion, notes };
  }
}
