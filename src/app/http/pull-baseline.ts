import type { ResultHistory, ResultRun } from "../../orchestrator/store/result-history.js";
import { flakyWindow } from "../history/result-judge.js";

/** Base-branch runs of a job read to choose a baseline by time (the check run reads ten commits' runs). */
const BASE_RUNS = 20;

/** What a pull request's run is compared with on its page, and whose choice that is. */
export interface PullBaseline {
  /** Nearest first: the first is the baseline, and all of them tell flaky tests. */
  window: ResultRun[];
  /** How many commits older than the merge base the baseline is; null where it was chosen by time, or there is none. */
  commitsOlder: number | null;
  /** The check run's: from its merge base's ancestry. By time: the newest base-branch runs finished before the run. */
  chosen: { by: "check run"; mergeBase: string | null } | { by: "time"; why: string };
  notes: string[];
}

/**
 * The base-branch runs the run's check run compared it with, as its judgement recorded
 * them, so the page and the check run agree. Where none is recorded (a run judged before
 * kto kept them, one not judged, a baseline since pruned), the nearest base-branch runs of
 * the job that finished before it, found in history without asking GitHub: they may not
 * be at the merge base, and the page says so.
 */
export async function pullBaseline(history: Pick<ResultHistory, "runsByIds" | "runsInGroupsBefore">, head: ResultRun): Promise<PullBaseline> {
  const judged = head.judgedBaseline;
  let why = "no check run's choice is recorded for these results";
  if (judged) {
    const kept = new Map((await history.runsByIds(judged.runIds)).map((run) => [run.id, run]));
    const window = judged.runIds.flatMap((id) => kept.get(id) ?? []);
    const pruned = judged.runIds.length - window.length;
    if (judged.runIds.length === 0 || kept.has(judged.runIds[0]!))
      return {
        window,
        commitsOlder: judged.commitsOlder,
        chosen: { by: "check run", mergeBase: judged.mergeBase },
        notes: pruned
          ? [
              `${pruned} of the ${judged.runIds.length} base-branch runs the check run told flaky tests by are no longer in history: flaky tests are told by the rest.`,
            ]
          : [],
      };
    why = "the check run's baseline is no longer in history";
  }
  const base = (await history.runsInGroupsBefore(head.repo, head.jobKey, `push:${head.repo}:`, head.finishedAt, BASE_RUNS)).filter(
    (run) => run.planId !== head.planId,
  );
  return { window: flakyWindow(base), commitsOlder: null, chosen: { by: "time", why }, notes: [] };
}
