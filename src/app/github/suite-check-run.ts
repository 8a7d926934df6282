import { isTerminal, type JobState } from "../../orchestrator/job-state.js";
import type { JobRecord } from "../../orchestrator/store/store.js";
import { codeSpan, inlineText, tableCell } from "../../runners/report/markdown.js";
import { STORED_FAILURES, type StoredReport } from "../http/stored-report.js";
import { ANNOTATIONS_PER_CHECK_RUN, jobAnnotations, type Annotation } from "./check-run-annotations.js";
import { CONCLUSION } from "./check-run-conclusion.js";
import { SUMMARY_LIMIT, withinLimit } from "./check-run-limits.js";

// One check run for a suite that asked for it (`check_run: suite`): its matrix jobs in a
// table, completed when the last of them ends, as the worst of them.

const PREFIX = "suite:";

/** The external id of a suite's check run: its plan and its name, which no job's id can be. */
export function suiteExternalId(planId: string, suite: string): string {
  return `${PREFIX}${planId}/${suite}`;
}

/** The plan and suite a suite's check run stands for, or null for any other external id. */
export function suiteOfExternalId(externalId: string): { planId: string; suite: string } | null {
  if (!externalId.startsWith(PREFIX)) return null;
  const slash = externalId.lastIndexOf("/");
  if (slash <= PREFIX.length) return null;
  return { planId: externalId.slice(PREFIX.length, slash), suite: externalId.slice(slash + 1) };
}

/** The jobs of `plan` shown in the check run of `suite`. */
export function jobsOfSuite(jobs: readonly JobRecord[], suite: string): JobRecord[] {
  return jobs.filter((j) => j.spec.checkRun === "suite" && j.spec.suite === suite);
}

type Conclusion = (typeof CONCLUSION)[keyof typeof CONCLUSION];

/** Worst last: what a suite concludes when any of its jobs did. */
const SEVERITY: readonly Conclusion[] = ["success", "skipped", "cancelled", "timed_out", "failure"];

/** The conclusion of the worst of `jobs`, all finished. */
export function suiteConclusion<J extends Pick<JobRecord, "state">>(
  jobs: readonly J[],
  conclusionOf: (job: J) => Conclusion = (job) => CONCLUSION[job.state as keyof typeof CONCLUSION],
): Conclusion {
  let worst: Conclusion = "success";
  for (const job of jobs) {
    if (!isTerminal(job.state)) continue;
    const conclusion = conclusionOf(job);
    if (SEVERITY.indexOf(conclusion) > SEVERITY.indexOf(worst)) worst = conclusion;
  }
  return worst;
}

/** "queued" until a job has left the queue, "completed" once every job has ended, else "in_progress". */
export function suiteStatus(jobs: readonly Pick<JobRecord, "state">[]): "queued" | "in_progress" | "completed" {
  if (jobs.every((j) => isTerminal(j.state))) return "completed";
  const waiting: readonly JobState[] = ["awaiting_approval", "waiting", "queued"];
  return jobs.every((j) => waiting.includes(j.state)) ? "queued" : "in_progress";
}

/** "9 jobs: 8 succeeded, 1 failed", or "3 of 9 jobs done: …" while some have not ended. */
export function suiteTitle(jobs: readonly Pick<JobRecord, "state">[]): string {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.state, (counts.get(job.state) ?? 0) + 1);
  const parts = [...counts].map(([state, n]) => `${n} ${state.replace("_", " ")}`).join(", ");
  const done = jobs.filter((j) => isTerminal(j.state)).length;
  const total = `${jobs.length} job${jobs.length === 1 ? "" : "s"}`;
  return (done === jobs.length ? `${total}: ${parts}` : `${done} of ${total} done: ${parts}`).slice(0, 200);
}

export interface SuiteRow {
  job: JobRecord;
  /** Its place in the queue of its labels, for a queued job; null otherwise. */
  position: number | null;
}

export interface SuiteLinks {
  /** https://github.com, or a GitHub Enterprise Server. */
  serverUrl: string;
  repo: string;
}

/** Long enough for any name a person reads; a cell past it is cut, so a row stays short. */
const CELL_CHARS = 200;

function cell(text: string): string {
  const flat = inlineText(text);
  return tableCell(flat.length <= CELL_CHARS ? flat : `${flat.slice(0, CELL_CHARS - 1)}…`);
}

function outcomeOf(job: JobRecord): string {
  if (!isTerminal(job.state)) return "";
  const report = job.result as StoredReport | null;
  const tests = report?.tests;
  if (tests && tests.total > 0) return `${tests.passed} passed, ${tests.failed} failed, ${tests.errored} errored, ${tests.skipped} skipped`;
  return (job.reason ?? job.state).split("\n")[0]!;
}

function whereOf({ job, position }: SuiteRow): string {
  if (job.state === "queued") return position ? `position ${position}` : "";
  return job.runnerId ?? "";
}

function linksOf(job: JobRecord, links: SuiteLinks): string {
  const report = job.result as StoredReport | null;
  const run = job.runId !== null && /^\d+$/.test(job.runId) ? `[log](${links.serverUrl}/${links.repo}/actions/runs/${job.runId})` : "";
  const results = report?.artifactUrl ? `[results](${report.artifactUrl})` : "";
  return [run, results].filter(Boolean).join(" · ");
}

function row(entry: SuiteRow, links: SuiteLinks): string {
  const { job } = entry;
  const state = `${job.state.replace("_", " ")}${job.flaky ? " (flaky)" : ""}${job.attempt > 1 && !isTerminal(job.state) ? `, attempt ${job.attempt}` : ""}`;
  return `| ${codeSpan(job.name.length <= CELL_CHARS ? job.name : `${job.name.slice(0, CELL_CHARS - 1)}…`)} | ${cell(state)} | ${cell(whereOf(entry))} | ${cell(outcomeOf(job))} | ${linksOf(job, links)} |`;
}

/**
 * The suite's jobs as a table, one row each: state, queue position or runner, outcome and
 * links to its run's log and results. A table that would pass GitHub's 65,535 bytes ends
 * at the last row that fits, saying how many it left out.
 */
export function suiteSummary(rows: readonly SuiteRow[], links: SuiteLinks, notes: readonly string[] = []): string {
  const head = `${notes.map((note) => `${note}\n\n`).join("")}| job | state | runner or queue position | outcome | links |\n|---|---|---|---|---|`;
  const cut = (left: number) => `\n\n… ${left} more job${left === 1 ? "" : "s"} not listed (GitHub's limit on a summary); the dashboard lists every job.`;
  const lines = [head];
  let bytes = Buffer.byteLength(head);
  const room = SUMMARY_LIMIT - Buffer.byteLength(cut(rows.length));
  for (const [i, entry] of rows.entries()) {
    const line = `\n${row(entry, links)}`;
    bytes += Buffer.byteLength(line);
    if (bytes > room) return withinLimit(`${lines.join("")}${cut(rows.length - i)}`, SUMMARY_LIMIT, "the dashboard lists every job");
    lines.push(line);
  }
  return withinLimit(lines.join(""), SUMMARY_LIMIT, "the dashboard lists every job");
}

/**
 * The annotations of the suite's finished jobs, each titled with its job's name, taken in
 * turn from each job so that every failing job shows, at most the check run's 50; and how
 * many were left out.
 */
export function suiteAnnotations(jobs: readonly JobRecord[]): { annotations: Annotation[]; omitted: number } {
  const each = jobs
    .filter((j) => isTerminal(j.state))
    .map((job) => {
      const report = job.result as StoredReport | null;
      return report?.name ? jobAnnotations({ ...report, failures: (report.failures ?? []).slice(0, STORED_FAILURES) }, `${job.name}: `) : [];
    });
  const total = each.reduce((sum, list) => sum + list.length, 0);
  const annotations: Annotation[] = [];
  for (let i = 0; annotations.length < Math.min(total, ANNOTATIONS_PER_CHECK_RUN); i++)
    for (const list of each) if (i < list.length && annotations.length < ANNOTATIONS_PER_CHECK_RUN) annotations.push(list[i]!);
  return { annotations, omitted: total - annotations.length };
}
