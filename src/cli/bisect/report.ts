import type { CommitInfo } from "./revisions.js";
import type { StepVerdict } from "../../runners/history/bisect-search.js";
import type { StepRecord } from "./state.js";

/** What a bisection found, as text for a person and as data for a script. */

export interface StepRow {
  commit: string;
  subject: string;
  verdict: StepVerdict;
  passed: number;
  failed: number;
  runs: number;
  seconds: number;
  /** Why it was skipped, or what failed. */
  reason: string;
}

export interface BisectOutcome {
  firstBad: CommitInfo | null;
  /** The commits the culprit is among when skipped commits hide which it is. */
  candidates: CommitInfo[] | null;
  confidence: number | null;
  /** How the confidence was reached, in words. */
  confidenceText: string;
  steps: StepRow[];
}

export function stepRow(step: StepRecord, info: CommitInfo, verdict: StepVerdict): StepRow {
  const failed = step.runs.filter((r) => r.verdict === "fail").length;
  const passed = step.runs.filter((r) => r.verdict === "pass").length;
  const reasonRun = step.runs.find((r) => r.verdict === "broken" || r.verdict === "unjudged") ?? step.runs.find((r) => r.verdict === "fail") ?? step.runs[0];
  const seconds = Math.round(step.runs.reduce((sum, r) => sum + r.seconds, 0) * 10) / 10;
  return { commit: info.hash, subject: info.subject, verdict, passed, failed, runs: step.runs.length, seconds, reason: reasonRun?.reason ?? "" };
}

/**
 * The chance the answer is right, as far as the runs tell: the fraction of the culprit's
 * runs that failed times the fraction of its parent's that passed. A parent is only good
 * with every run passing, so this is the culprit's failing fraction; 1 when every run agreed.
 */
export function confidence(culprit: StepRow, parent: StepRow): number {
  return (culprit.failed / culprit.runs) * (parent.passed / parent.runs);
}

export function outcomeText(outcome: BisectOutcome): string {
  const lines: string[] = [];
  if (outcome.firstBad) {
    lines.push(`kto bisect: first bad commit: ${outcome.firstBad.hash}`);
    lines.push(`  subject:    ${outcome.firstBad.subject}`);
    lines.push(`  author:     ${outcome.firstBad.author}`);
    lines.push(`  confidence: ${outcome.confidence?.toFixed(2)} (${outcome.confidenceText})`);
  } else {
    lines.push("kto bisect: inconclusive: commits that could not be judged hide which of these is the first bad one:");
    for (const c of outcome.candidates ?? []) lines.push(`  ${c.hash.slice(0, 12)} ${c.subject}`);
  }
  const skipped = outcome.steps.filter((s) => s.verdict === "skip");
  if (skipped.length) {
    lines.push(`  skipped:    ${skipped.length} commits`);
    for (const s of skipped) lines.push(`    ${s.commit.slice(0, 12)} ${s.subject}: ${s.reason}`);
  }
  lines.push("");
  const header = ["commit", "verdict", "pass/fail", "seconds", "subject"];
  const rows = outcome.steps.map((s) => [s.commit.slice(0, 12), s.verdict, `${s.passed}/${s.failed}`, s.seconds.toFixed(1), s.subject]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    lines.push(
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    );
  return `${lines.join("\n")}\n`;
}

export function outcomeJson(outcome: BisectOutcome): string {
  const skipped = outcome.steps.filter((s) => s.verdict === "skip").map((s) => ({ commit: s.commit, subject: s.subject, reason: s.reason }));
  const data = {
    first_bad: outcome.firstBad,
    confidence: outcome.confidence,
    steps: outcome.steps,
    skipped,
    ...(outcome.candidates ? { candidates: outcome.candidates } : {}),
  };
  return `${JSON.stringify(data, null, 2)}\n`;
}
