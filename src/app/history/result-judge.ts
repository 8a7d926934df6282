import type { ResultHistory, ResultRun } from "../../orchestrator/store/result-history.js";
import type { JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import { errorText } from "../../orchestrator/logger.js";
import { compareResults, flakyAlong, type ClassifiedTest, type CompareOptions, type Comparison } from "../../runners/history/comparison.js";
import { knownIssuesPassing, type PassingKnownIssue } from "../../runners/history/known-streaks.js";
import { JOB_CASE, resultsSet, type ResultsJobEntry, type ResultsSet } from "../../runners/history/results-set.js";
import { identityKey, isFailing } from "../../runners/history/test-identity.js";
import { CONCLUSION } from "../github/check-run-conclusion.js";
import { splitRepo, type OctokitFor } from "../github/github-api.js";
import type { CommitAncestry } from "./commit-ancestry.js";
import type { ResultsPolicyReader } from "./results-policy.js";
import type { BaselineScheduler } from "./baseline-scheduler.js";
import { isPullRequestGroup } from "../webhooks/plan-target.js";

/** Base-branch runs of a job read to tell a flaky test: the nearest with results. */
const FLAKY_WINDOW = 10;
/** Outcomes that say nothing of the kernel: such a run is no baseline. */
const NO_VERDICT = new Set(["infrastructure", "cancelled"]);

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
  /** What the check run concludes; null leaves it to the job's state (policy `failures`, a job that failed as a whole, an incomplete answer). */
  conclusion: "success" | "failure" | null;
  /** Why the judgement may be less than it seems: no baseline, an unreadable known-issues file, an incomplete comparison. */
  notes: string[];
  /** The merge base whose baseline kto is running for it: until that ends, the judgement waits. */
  waitingForBaseline?: string;
  /** Known issues whose tests passed in each of the base branch's last runs of this job: each may be ready to go. */
  knownPassing: PassingKnownIssue[];
}

/** The tests a judgement counts as regressions: failing where they passed, or failing and new. */
export function regressionTests(comparison: Comparison): ClassifiedTest[] {
  return comparison.tests.filter((t) => t.class === "new" || (t.class === "new_test" && isFailing(t.head)));
}

/** The one rule for a finished job's check run: its judgement's conclusion where it has one, else its state's. */
export function judgedConclusion(job: Pick<JobRecord, "state">, judgement: Judgement | null | undefined) {
  return judgement?.conclusion ?? CONCLUSION[job.state as keyof typeof CONCLUSION];
}

export interface ResultJudgeDeps {
  history: Pick<ResultHistory, "runOf" | "baselineRuns" | "casesOf" | "recordBaseline">;
  ancestry: Pick<CommitAncestry, "of">;
  policy: Pick<ResultsPolicyReader, "at">;
  octokitFor: OctokitFor;
  /** Runs a pull request's baseline where its merge base has none; without it, no baseline means every failure is new. */
  baselines?: Pick<BaselineScheduler, "request">;
}

/** A stored run as a results set, keyed exactly as its results.json would be. */
export async function storedSet(history: Pick<ResultHistory, "casesOf">, run: ResultRun, source: string): Promise<ResultsSet> {
  const cases = (await history.casesOf(run.id)) as ResultsJobEntry["cases"] & object;
  return resultsSet(source, [{ ...(run.entry as Omit<ResultsJobEntry, "cases">), cases }]);
}

const short = (sha: string) => sha.slice(0, 7);

/** The runs that tell a flaky test: those of `runs` (nearest first) at their nearest commits. */
export function flakyWindow(runs: readonly ResultRun[]): ResultRun[] {
  const commits = [...new Set(runs.map((run) => run.sha))].slice(0, FLAKY_WINDOW);
  return runs.filter((run) => commits.includes(run.sha));
}

/**
 * A job's results against base-branch runs of it, nearest first: compared with the nearest,
 * a test that went back and forth across the nearest commits' runs taken as flaky. The check
 * run and the dashboard both classify through this.
 */
export async function compareWithBaseRuns(
  history: Pick<ResultHistory, "casesOf">,
  headSet: ResultsSet,
  runs: readonly ResultRun[],
  options: { known?: CompareOptions["known"] } = {},
): Promise<{ comparison: Comparison; nearest: ResultRun | null; window: ResultRun[]; recent: ResultsSet[] }> {
  const nearest = runs[0] ?? null;
  const window = flakyWindow(runs);
  // Nearest first: the nearest run is the window's first.
  const recent = await Promise.all(window.map((run) => storedSet(history, run, short(run.sha))));
  const baseSet = recent[0] ?? resultsSet("no baseline", []);
  const flaky = window.length > 1 ? flakyAlong(window.map((run, i) => ({ commit: run.sha, set: recent[i]! }))) : new Set<string>();
  return { comparison: compareResults(baseSet, headSet, { ...options, flaky }), nearest, window, recent };
}

/**
 * Judges a finished job by its results against its baseline: the same job's newest results
 * at the nearest commit of its base branch that has them, from that branch's own plans. Red
 * under `fail_on: regressions` only for a test that passed there and fails now, or a new test
 * that fails; a failure that was already there, a known issue or a flaky test is reported
 * and does not make it red. A job that failed as a whole (a panic, a hang, a timeout, a build
 * that broke, a failure no case explains) is never made green by it.
 */
export class ResultJudge {
  constructor(private readonly deps: ResultJudgeDeps) {}

  /** Null when there is nothing to judge by: no cases sent (a runner older than history), or no base branch known for the plan. */
  async judge(job: JobRecord, plan: PlanRecord): Promise<Judgement | null> {
    // The base branch as it was when the plan was made: never the pull request's own head, nor a base it was moved to since.
    const baseRef = plan.baseRef;
    // A build's end is its own (its check run names what broke); its tests are its suites'.
    if (!plan.repo || !plan.headSha || plan.installationId === null || !baseRef || job.spec.runner === "build") return null;
    const head = await this.deps.history.runOf(job.id, job.attempt);
    if (!head) return null;
    const notes: string[] = [];
    const headSet = await storedSet(this.deps.history, head, short(plan.headSha));
    const { owner, repo } = splitRepo(plan.repo);
    let candidates: string[] = [];
    let mergeBase: string | null = null;
    try {
      const commits = await this.deps.ancestry.of(plan);
      candidates = commits.shas;
      mergeBase = commits.mergeBase;
    } catch (error) {
      notes.push(`The base branch's commits could not be read (${errorText(error)}), so no baseline was looked for.`);
    }
    const policy = await this.deps.policy.at(await this.deps.octokitFor(plan.installationId), owner, repo, baseRef);
    if (policy.knownProblem) notes.push(`${policy.knownProblem}; no failure is taken as known until it is fixed.`);
    const runs = (await this.deps.history.baselineRuns(plan.repo, head.jobKey, candidates, baseRef)).filter(
      (run) => run.planId !== plan.id && !NO_VERDICT.has(String(run.entry.outcome)),
    );
    const order = new Map(candidates.map((sha, i) => [sha, i]));
    // Nearest commit first, and at one commit the newest run.
    runs.sort((a, b) => order.get(a.sha)! - order.get(b.sha)! || b.finishedAt - a.finishedAt || b.id - a.id);
    const { comparison, nearest, window, recent } = await compareWithBaseRuns(this.deps.history, headSet, runs, { known: policy.known });
    let baseline: Baseline | null = null;
    if (nearest) baseline = { sha: nearest.sha, commitsOlder: order.get(nearest.sha)!, fromMergeBase: mergeBase !== null, jobId: nearest.jobId };
    // Only a pull request's: a baseline's own judgement asking for its parent's would walk the whole branch back.
    else if (mergeBase && isPullRequestGroup(plan.groupKey) && this.deps.baselines && (await this.deps.baselines.request(plan, mergeBase, job)))
      return { comparison, baseline: null, failOn: policy.failOn, regressions: 0, conclusion: null, notes, waitingForBaseline: mergeBase, knownPassing: [] };
    else if (candidates.length > 0)
      notes.push(
        `No results of this job from ${baseRef}'s own runs in the ${candidates.length} commits from ${short(candidates[0]!)} back: every failing test counts as new (pushes to ${baseRef} give it a baseline).`,
      );
    // The dashboard's pull request page classifies against the same runs. A store that cannot
    // keep them leaves that page to choose by time, and this check run judged all the same.
    await this.deps.history
      .recordBaseline(head.id, { runIds: window.map((run) => run.id), commitsOlder: baseline?.commitsOlder ?? null, mergeBase })
      .catch(() => undefined);
    // Looked for only once the judgement is given, not while it waits for its baseline.
    // A branch's own run is one of the branch's runs; a pull request's is not.
    const baseRuns = window.map((run, i) => ({ commit: run.sha, set: recent[i]! }));
    const passing = knownIssuesPassing(policy.known, isPullRequestGroup(plan.groupKey) ? baseRuns : [{ commit: plan.headSha, set: headSet }, ...baseRuns]);
    if (passing.unchecked > 0)
      notes.push(
        `${passing.unchecked} known issues were not checked for passing in a row: their globs start with a wildcard (or with what most tests start with) and this job has too many tests to try them on.`,
      );
    const regressions = regressionTests(comparison).length;
    // Run again to confirm (the base's confirm, a suite's retries): a test that failed on an
    // earlier run of this commit and passes now is flaky, and said so, never quietly green.
    const wavered = new Set<string>();
    for (let attempt = 1; attempt < job.attempt; attempt++) {
      const earlier = await this.deps.history.runOf(job.id, attempt);
      if (!earlier) continue;
      for (const test of (await storedSet(this.deps.history, earlier, short(plan.headSha))).cases.values())
        if (isFailing(test.status) && headSet.cases.get(test.key)?.status === "passed") wavered.add(test.id);
    }
    if (wavered.size > 0) {
      const listed = [...wavered].slice(0, 5).join(", ");
      notes.push(
        `Flaky on this commit: ${wavered.size} test${wavered.size === 1 ? "" : "s"} failed on an earlier run and passed when run again: ${listed}${wavered.size > 5 ? ", …" : ""}.`,
      );
    }
    const jobCase = headSet.cases.get(identityKey({ job: head.jobKey, path: [], name: JOB_CASE, occurrence: 1 }));
    const failedAsWhole = jobCase?.status !== "passed";
    let conclusion: Judgement["conclusion"] = null;
    const noVerdict = job.outcome === "infrastructure" || job.state === "cancelled" || job.state === "skipped";
    if (policy.failOn === "regressions" && !noVerdict && job.state !== "succeeded") {
      if (regressions > 0) {
        conclusion = "failure";
        if (job.failedAttempts > 0) notes.push(`Confirmed: the job failed in each of its ${job.failedAttempts + 1} runs of this commit.`);
      } else if (failedAsWhole || head.entry.status !== job.state)
        notes.push("The job failed as a whole (it did not run to the end, or failed with no failing test to say why), so its own result decides.");
      else if (comparison.incomplete.length === 0) conclusion = "success";
      else notes.push("The comparison is incomplete (see below), so the job's own result decides.");
    }
    return { comparison, baseline, failOn: policy.failOn, regressions, conclusion, notes, knownPassing: passing.issues };
  }
}
