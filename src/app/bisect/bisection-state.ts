import { z } from "zod";
import { judgeStep, nextMove, type RunVerdict, type StepVerdict } from "../../runners/history/bisect-search.js";

/**
 * A bisection's progress, pure: which commit a step tests, what its run says, and when the
 * search ends. Positions follow the search's: 0 is the last good commit, `n` the first bad
 * one known, and commit `i` of the range (oldest first) is position `i + 1`.
 */

/** Steps beyond the halving a bisection may spend on commits that cannot be judged (a failed build, a run that said nothing). */
export const SKIP_ALLOWANCE = 2;

export const bisectionCommitSchema = z.object({ sha: z.string(), title: z.string(), author: z.string() });
export type BisectionCommit = z.output<typeof bisectionCommitSchema>;

const stepSchema = z.object({
  position: z.number().int().min(1),
  sha: z.string(),
  /** Null while its run is under way. */
  verdict: z.enum(["good", "bad", "skip"]).nullable(),
  /** Why a step was skipped, or what its run said. */
  note: z.string().optional(),
});
export type BisectionStep = z.output<typeof stepSchema>;

export const bisectionStateSchema = z.object({
  steps: z.array(stepSchema),
  /** Who cancelled it: set with the status, in the one write that stops it. */
  cancelledBy: z.string().optional(),
});
export type BisectionState = z.output<typeof bisectionStateSchema>;

export const commitsSchema = z.array(bisectionCommitSchema);
/** The regressed tests: the key a step is judged by, and the name shown. */
export const testsSchema = z.array(z.object({ key: z.string(), shown: z.string() }));

export type BisectionMove =
  | { kind: "test"; position: number }
  | { kind: "found"; firstBad: number }
  /** The culprit is one of `candidates`: only skipped commits lie between, or the steps ran out. */
  | { kind: "inconclusive"; candidates: number[]; why: "skipped" | "bound" };

/** The most steps a range of `n` commits may take: the halving, and SKIP_ALLOWANCE more. */
export function maxSteps(n: number): number {
  return Math.ceil(Math.log2(Math.max(n, 1))) + SKIP_ALLOWANCE;
}

function verdicts(state: BisectionState): Map<number, StepVerdict> {
  const map = new Map<number, StepVerdict>();
  for (const step of state.steps) if (step.verdict) map.set(step.position, step.verdict);
  return map;
}

/**
 * The positions the first bad commit is known to lie in, from `first` to `last`: after the
 * last good commit below the first bad one seen. What a search stopped early has learnt.
 */
export function narrowed(n: number, state: BisectionState): { first: number; last: number } {
  const known = verdicts(state);
  let last = n;
  for (const [position, verdict] of known) if (verdict === "bad" && position < last) last = position;
  let good = 0;
  for (const [position, verdict] of known) if (verdict === "good" && position > good && position < last) good = position;
  return { first: good + 1, last };
}

/** The next step of a range of `n` commits, or the answer; never more than maxSteps(n) steps. */
export function nextBisectionMove(n: number, state: BisectionState): BisectionMove {
  const known = verdicts(state);
  const move = nextMove(n, known);
  if (move.kind === "found") return move;
  if (move.kind === "inconclusive") return { kind: "inconclusive", candidates: move.candidates, why: "skipped" };
  if (state.steps.length < maxSteps(n)) return { kind: "test", position: move.index };
  const { first, last } = narrowed(n, state);
  const candidates: number[] = [];
  for (let i = first; i <= last; i++) candidates.push(i);
  return { kind: "inconclusive", candidates, why: "bound" };
}

/** The step under way: the last, while it has no verdict. */
export function currentStep(state: BisectionState): BisectionStep | null {
  const last = state.steps.at(-1);
  return last && last.verdict === null ? last : null;
}

/** The state with the step at `sha` judged, or null when no step at `sha` is under way (a report seen twice, or a stale plan). */
export function judged(state: BisectionState, sha: string, verdict: StepVerdict, note: string): BisectionState | null {
  const current = currentStep(state);
  if (!current || current.sha !== sha) return null;
  return { ...state, steps: [...state.steps.slice(0, -1), { ...current, verdict, note }] };
}

/** The state with a step at `position` of `commits` begun. */
export function begun(state: BisectionState, position: number, commits: readonly BisectionCommit[]): BisectionState {
  return { ...state, steps: [...state.steps, { position, sha: commits[position - 1]!.sha, verdict: null }] };
}

/** What a step's job said of the regressed tests: its end, and each test's status in its run (absent: not run). */
export interface StepRun {
  /** The job never ran or could not tell (its build failed, an infrastructure fault, cancelled). */
  broken: string | null;
  statuses: ReadonlyMap<string, string>;
}

/** A step's verdict: bad when any regressed test fails, good when all pass, else skipped, as `git bisect skip`. */
export function stepVerdict(run: StepRun, tests: readonly string[]): { verdict: StepVerdict; note: string } {
  let verdict: RunVerdict;
  let note: string;
  if (run.broken !== null) {
    verdict = "broken";
    note = run.broken;
  } else {
    const statuses = tests.map((t) => run.statuses.get(t));
    const failing = statuses.filter((s) => s === "failed" || s === "errored").length;
    if (failing > 0) {
      verdict = "fail";
      note = `${failing} of ${tests.length} failed`;
    } else if (statuses.every((s) => s === "passed")) {
      verdict = "pass";
      note = tests.length === 1 ? "passed" : `all ${tests.length} passed`;
    } else {
      verdict = "unjudged";
      note = "the tests did not run";
    }
  }
  // One run a step: a flaky test shows as the confidence, not as more runs.
  const step = judgeStep([verdict], 1);
  return { verdict: step === "more" ? "skip" : step, note };
}

/** How far to trust a first bad commit: each commit ran once, and skipped ones leave room for doubt. */
export function confidence(state: BisectionState, move: BisectionMove): { level: "high" | "medium" | "low"; why: string } {
  const skipped = state.steps.filter((s) => s.verdict === "skip").length;
  if (move.kind !== "found") return { level: "low", why: "the search could not narrow the range to one commit" };
  if (skipped === 0) return { level: "high", why: "every step's run gave a clear verdict (each commit ran once)" };
  return { level: "medium", why: `${skipped} commit${skipped === 1 ? "" : "s"} could not be judged and were skipped (each commit ran once)` };
}
