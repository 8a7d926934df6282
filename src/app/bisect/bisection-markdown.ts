import { codeSpan, plainText } from "../../runners/report/markdown.js";
import { outputTitle, SUMMARY_LIMIT, withinLimit } from "../github/check-run-limits.js";
import { confidence, maxSteps, narrowed, type BisectionCommit, type BisectionMove, type BisectionState } from "./bisection-state.js";

/** The `kto / bisect` check run: one per bisection, on its bad commit. */
export const BISECT_CHECK_RUN = "kto / bisect";

const EXTERNAL_ID = "bisect:";
/** The check run's external id: a press of its button names the bisection by it. */
export const bisectExternalId = (id: string) => `${EXTERNAL_ID}${id}`;
/** The bisection a check run is the `kto / bisect` of, by its external id; null for any other check run. */
export function bisectionOfExternalId(externalId: string | null | undefined): string | null {
  return externalId?.startsWith(EXTERNAL_ID) ? externalId.slice(EXTERNAL_ID.length) : null;
}

/** What a bisection's check run says: where it is, its range and steps, and at the end its answer. */
export interface BisectionView {
  repo: string;
  serverUrl: string;
  suite: string;
  /** The regressed job each step runs: the suite and its matrix values, as history keys it. */
  jobKey: string;
  goodSha: string;
  badSha: string;
  /** The regressed tests, as shown. */
  shown: readonly string[];
  commits: readonly BisectionCommit[];
  state: BisectionState;
  startedBy: string;
  /** The bisection's page on the dashboard; absent when the dashboard is off. */
  pageUrl?: string;
}

const short = (sha: string) => sha.slice(0, 7);
const commitLink = (view: BisectionView, sha: string) => `[${short(sha)}](${view.serverUrl}/${view.repo}/commit/${sha})`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function stepsTable(view: BisectionView): string {
  const rows = view.state.steps.map((step, i) => {
    const commit = view.commits[step.position - 1]!;
    const verdict = step.verdict ?? "running";
    return `| ${i + 1} | ${commitLink(view, step.sha)} | ${plainText(commit.title)} | ${verdict} | ${plainText(step.note ?? "")} |`;
  });
  return ["| step | commit | title | verdict | what the run said |", "| --- | --- | --- | --- | --- |", ...rows].join("\n") + skippedList(view);
}

/** Each skipped commit with why it could not be judged: a failed build, or a config with no such job there. */
function skippedList(view: BisectionView): string {
  const skipped = view.state.steps.filter((s) => s.verdict === "skip");
  if (skipped.length === 0) return "";
  const lines = skipped.map((s) => `- ${commitLink(view, s.sha)}: ${plainText(s.note ?? "it could not be judged")}`);
  return `\n\nSkipped, as \`git bisect skip\` does:\n\n${lines.join("\n")}`;
}

function header(view: BisectionView): string {
  const n = view.commits.length;
  const tests = view.shown.map((t) => codeSpan(t)).join(", ");
  return [
    `Bisecting ${plural(n, "commit")} after ${commitLink(view, view.goodSha)} (good) up to ${commitLink(view, view.badSha)} (bad), for ${tests}, as @${plainText(view.startedBy)} asked.`,
    `Each step runs the job ${codeSpan(view.jobKey)} at one commit, at the lowest priority, one after the other: at most ${plural(maxSteps(n), "step")} (${Math.ceil(Math.log2(n))} to halve the range, ${maxSteps(n) - Math.ceil(Math.log2(n))} more for commits that cannot be judged).`,
    ...(view.pageUrl ? [`Every step with its job's check run: [the bisection's page](${view.pageUrl}).`] : []),
    `To stop it, a writer presses **Stop bisect** on the regression's check run, ${codeSpan(`kto / ${view.suite}`)} at ${commitLink(view, view.badSha)}.`,
  ].join("\n\n");
}

/** The check run while a step runs. */
export function runningOutput(view: BisectionView): { title: string; summary: string } {
  const step = view.state.steps.at(-1)!;
  const title = `Testing ${short(step.sha)}: step ${view.state.steps.length} of at most ${maxSteps(view.commits.length)}`;
  return { title: outputTitle(title), summary: withinLimit(`${header(view)}\n\n${stepsTable(view)}`, SUMMARY_LIMIT, "the dashboard lists every step's job") };
}

/** The check run once the search has ended: the first bad commit with its author, the confidence and the steps. */
export function finishedOutput(view: BisectionView, move: Exclude<BisectionMove, { kind: "test" }>): { title: string; summary: string } {
  const sure = confidence(view.state, move);
  const steps = plural(view.state.steps.length, "step");
  if (move.kind === "found") {
    const culprit = view.commits[move.firstBad - 1]!;
    const answer = [
      `**First bad commit: ${commitLink(view, culprit.sha)}** ${plainText(culprit.title)}, by ${plainText(culprit.author)}.`,
      `Confidence: ${sure.level}: ${sure.why}. Found in ${steps}.`,
    ].join("\n\n");
    return {
      title: outputTitle(`First bad commit: ${short(culprit.sha)} ${culprit.title}`),
      summary: withinLimit(`${answer}\n\n${header(view)}\n\n${stepsTable(view)}`, SUMMARY_LIMIT, "the dashboard lists every step's job"),
    };
  }
  const candidates = move.candidates.map((p) => commitLink(view, view.commits[p - 1]!.sha)).join(", ");
  const why = move.why === "bound" ? `the ${steps} it may take ran out` : "only commits that could not be judged lie between the last good and the first bad";
  return {
    title: outputTitle(`Inconclusive: one of ${plural(move.candidates.length, "commit")}`),
    summary: withinLimit(
      `**Inconclusive:** ${why}. The first bad commit is one of ${candidates}.\n\nConfidence: ${sure.level}: ${sure.why}.\n\n${header(view)}\n\n${stepsTable(view)}`,
      SUMMARY_LIMIT,
      "the dashboard lists every step's job",
    ),
  };
}

/** The check run once a writer cancelled the bisection: who did, and how far the steps had narrowed the range. */
export function cancelledOutput(view: BisectionView, by: string): { title: string; summary: string } {
  const { first, last } = narrowed(view.commits.length, view.state);
  const judged = view.state.steps.filter((s) => s.verdict !== null).length;
  const count = last - first + 1;
  const range =
    count === 1
      ? `the first bad commit is ${commitLink(view, view.commits[first - 1]!.sha)}`
      : `the first bad commit is one of ${plural(count, "commit")}, from ${commitLink(view, view.commits[first - 1]!.sha)} up to ${commitLink(view, view.commits[last - 1]!.sha)}`;
  const learnt = judged === 0 ? `No step had ended: ${range}.` : `What ${plural(judged, "step")} learnt: ${range}.`;
  return {
    title: outputTitle(`Cancelled by @${by}: ${count === 1 ? "1 commit" : `one of ${plural(count, "commit")}`} left`),
    summary: withinLimit(
      `**Cancelled** by @${plainText(by)}. ${learnt}\n\n${header(view)}\n\n${stepsTable(view)}`,
      SUMMARY_LIMIT,
      "the dashboard lists every step's job",
    ),
  };
}
