/**
 * The bisection itself, pure: commits 0..n in history order, 0 known good and n known bad,
 * and the verdicts of those tested so far. It never runs anything, so every answer it gives
 * can be checked against a made-up history.
 */

/** What one run of the suite at a commit said. `broken`: its build failed (or its jobs were skipped for it); `unjudged`: it said nothing about the test. */
export type RunVerdict = "pass" | "fail" | "broken" | "unjudged";

/** A step's verdict once its runs agree enough; `skip` as `git bisect skip` is. */
export type StepVerdict = "good" | "bad" | "skip";

export type NextMove =
  | { kind: "test"; index: number }
  | { kind: "found"; firstBad: number }
  /** Only skipped commits lie between the last good and the first bad: the culprit is one of `candidates`. */
  | { kind: "inconclusive"; candidates: number[] };

/** How many runs a step may take when its runs disagree: a majority can always form. */
export function maxRuns(runs: number): number {
  return 2 * runs + 1;
}

/**
 * A step's verdict from its runs, or `more` while they do not yet settle it. Good needs
 * every run to pass, since a flaky failure is still a failure of the test; bad needs a
 * strict majority of failures once the runs disagree, and the bound of `maxRuns` runs
 * turns anything less into a skip rather than a guess.
 */
export function judgeStep(verdicts: readonly RunVerdict[], runs: number): StepVerdict | "more" {
  if (verdicts.some((v) => v === "broken" || v === "unjudged")) return "skip";
  const failed = verdicts.filter((v) => v === "fail").length;
  const passed = verdicts.length - failed;
  if (verdicts.length < runs) return "more";
  if (failed === 0) return "good";
  if (passed === 0) return "bad";
  if (verdicts.length < maxRuns(runs)) return "more";
  return failed * 2 > verdicts.length ? "bad" : "skip";
}

/**
 * The next commit to test, or the answer. The window is (last good below the first bad,
 * first bad]; of its untested commits the one nearest its middle is tested next, so skipped
 * commits cost one step each and never stall the search, as `git bisect skip` does.
 */
export function nextMove(n: number, verdicts: ReadonlyMap<number, StepVerdict>): NextMove {
  let hi = n;
  for (const [index, verdict] of verdicts) if (verdict === "bad" && index < hi) hi = index;
  let lo = 0;
  for (const [index, verdict] of verdicts) if (verdict === "good" && index > lo && index < hi) lo = index;
  const untested: number[] = [];
  for (let i = lo + 1; i < hi; i++) if (!verdicts.has(i)) untested.push(i);
  if (untested.length === 0) {
    if (hi === lo + 1) return { kind: "found", firstBad: hi };
    const candidates: number[] = [];
    for (let i = lo + 1; i <= hi; i++) candidates.push(i);
    return { kind: "inconclusive", candidates };
  }
  const middle = (lo + hi) / 2;
  let best = untested[0]!;
  for (const i of untested) if (Math.abs(i - middle) < Math.abs(best - middle)) best = i;
  return { kind: "test", index: best };
}
