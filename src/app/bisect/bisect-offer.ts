import type { PlanRecord } from "../../orchestrator/store/store.js";
import { identityKey } from "../../runners/history/test-identity.js";
import type { Judgement } from "../history/result-judge.js";
import { isPushGroup } from "../webhooks/plan-target.js";

/** The check run button that starts a bisection; GitHub's limits: identifier and label ≤ 20, description ≤ 40. */
export const BISECT_ACTION = { label: "Bisect", identifier: "bisect", description: "Find the commit that broke it" } as const;
/**
 * Its twin, which stops the regression's bisection. On the regression's check run, not on
 * the running `kto / bisect`: GitHub shows a check run's buttons only once it has completed.
 */
export const STOP_BISECT_ACTION = { label: "Stop bisect", identifier: "bisect-stop", description: "Stop bisecting; keep what it found" } as const;

/** Regressed tests a bisection follows: enough to tell a step, few enough to keep in one row. */
const MAX_TESTS = 50;

/** What a bisection of a regression would search: between the baseline (good) and the job's commit (bad). */
export interface BisectOffer {
  goodSha: string;
  badSha: string;
  /** Identity keys of the tests that passed at good and fail at bad. */
  tests: string[];
  /** Their names as shown. */
  shown: string[];
}

/**
 * The one place that decides whether a judged job may be bisected: the button shows only
 * then, and a press is taken only then. A push to the default branch (its commits are the
 * branch's own), tests that passed at the baseline and fail now (a new failing test has no
 * good side), and more than one commit between, else the culprit is already known.
 */
export function bisectOffer(plan: Pick<PlanRecord, "groupKey" | "headSha">, judgement: Judgement | null): BisectOffer | null {
  if (!isPushGroup(plan.groupKey) || !plan.headSha || !judgement?.baseline || judgement.baseline.commitsOlder < 1) return null;
  const regressed = judgement.comparison.tests.filter((t) => t.class === "new").slice(0, MAX_TESTS);
  if (regressed.length === 0) return null;
  return {
    goodSha: judgement.baseline.sha,
    badSha: plan.headSha,
    tests: regressed.map((t) => identityKey(t.identity)),
    shown: regressed.map((t) => t.id),
  };
}
