import type { BisectionRecord, BisectionRepository, BisectionStatus } from "../../orchestrator/store/bisection-repository.js";
import type { JobReads } from "../../orchestrator/store/store.js";
import { jobIdentity } from "../../runners/history/test-identity.js";
import {
  bisectionStateSchema,
  commitsSchema,
  confidence,
  maxSteps,
  narrowed,
  nextBisectionMove,
  testsSchema,
  type BisectionCommit,
} from "../bisect/bisection-state.js";
import { bisectGroupOf } from "../webhooks/plan-target.js";

/** Bisections the list shows: enough to find last week's, few enough to read each one's JSON. */
export const RECENT_BISECTIONS = 50;

export type BisectionReads = Pick<BisectionRepository, "bisection" | "recent">;

/** A commit as the page shows it: its link is always to the server's own commit page. */
export interface CommitView {
  sha: string;
  url: string;
  title: string | null;
  author: string | null;
}

export interface BisectionData {
  kind: "bisection";
  repo: string;
  id: string;
  status: BisectionStatus;
  suite: string;
  jobKey: string;
  tests: string[];
  startedBy: string;
  createdAt: number;
  good: CommitView;
  bad: CommitView;
  commits: number;
  maxSteps: number;
  checkRunUrl: string | null;
  steps: { step: number; commit: CommitView; verdict: "good" | "bad" | "skip" | "running"; note: string; checkRunUrl: string | null }[];
  /** The answer once the search ended: the first bad commit, or the commits it is one of; or, cancelled, who stopped it and the range its steps had narrowed. */
  result:
    | { kind: "found"; culprit: CommitView; confidence: { level: string; why: string } }
    | { kind: "inconclusive"; candidates: CommitView[]; confidence: { level: string; why: string } }
    | { kind: "cancelled"; by: string | null; first: CommitView; last: CommitView; commits: number }
    | null;
}

export interface BisectionListData {
  kind: "list";
  repo: string;
  bisections: {
    id: string;
    status: BisectionStatus;
    jobKey: string;
    goodSha: string;
    badSha: string;
    startedBy: string;
    createdAt: number;
    steps: number;
    culprit: CommitView | null;
  }[];
}

/** The bisection's commits, tests and steps as the App wrote them; a record the schema refuses shows its range alone. */
function parsed(record: BisectionRecord) {
  const read = <T>(parse: () => T, fallback: T): T => {
    try {
      return parse();
    } catch {
      return fallback;
    }
  };
  return {
    commits: read(() => commitsSchema.parse(JSON.parse(record.commits)), []),
    tests: read(() => testsSchema.parse(JSON.parse(record.tests)), []),
    state: read(() => bisectionStateSchema.parse(JSON.parse(record.state)), { steps: [] }),
  };
}

const commitView = (serverUrl: string, repo: string, sha: string, commit?: BisectionCommit): CommitView => ({
  sha,
  url: `${serverUrl}/${repo}/commit/${sha}`,
  title: commit?.title ?? null,
  author: commit?.author ?? null,
});

function culpritOf(
  record: BisectionRecord,
  serverUrl: string,
  commits: readonly BisectionCommit[],
  state: ReturnType<typeof parsed>["state"],
): BisectionData["result"] {
  const at = (position: number) => commitView(serverUrl, record.repo, commits[position - 1]!.sha, commits[position - 1]);
  if (record.status === "cancelled" && commits.length > 0) {
    const { first, last } = narrowed(commits.length, state);
    return { kind: "cancelled", by: state.cancelledBy ?? null, first: at(first), last: at(last), commits: last - first + 1 };
  }
  if (record.status !== "found" && record.status !== "inconclusive") return null;
  const move = nextBisectionMove(commits.length, state);
  if (move.kind === "test") return null;
  const sure = confidence(state, move);
  if (move.kind === "found") return { kind: "found", culprit: at(move.firstBad), confidence: sure };
  return { kind: "inconclusive", candidates: move.candidates.map(at), confidence: sure };
}

/** The check run of the step's job: its plan is the one the bisection's group planned at the step's commit. */
async function stepCheckRun(reads: Pick<JobReads, "jobs" | "plans">, record: BisectionRecord, sha: string): Promise<number | null> {
  const group = bisectGroupOf(record.repo, record.id);
  const plans = (await reads.plans.plansAt(record.repo, sha)).filter((p) => p.groupKey === group);
  for (const plan of plans.reverse()) {
    const jobs = await reads.jobs.list({ planId: plan.id });
    const job = jobs.find((j) => j.spec.runner !== "build" && jobIdentity({ suite: j.spec.suite, matrix: j.spec.matrix }) === record.jobKey);
    if (job?.checkRunId) return job.checkRunId;
  }
  return null;
}

export async function bisectionData(
  bisections: BisectionReads,
  reads: Pick<JobReads, "jobs" | "plans">,
  serverUrl: string,
  repo: string,
  id: string,
): Promise<BisectionData | null> {
  const record = await bisections.bisection(id);
  // Another repository's bisection is not found here: read access may be granted per repository some day.
  if (!record || record.repo !== repo) return null;
  const { commits, tests, state } = parsed(record);
  const bySha = new Map(commits.map((c) => [c.sha, c]));
  const runUrl = (checkRunId: number | null) => (checkRunId === null ? null : `${serverUrl}/${repo}/runs/${checkRunId}`);
  const steps = await Promise.all(
    state.steps.map(async (step, i) => ({
      step: i + 1,
      commit: commitView(serverUrl, repo, step.sha, bySha.get(step.sha)),
      verdict: step.verdict ?? ("running" as const),
      note: step.note ?? "",
      checkRunUrl: runUrl(await stepCheckRun(reads, record, step.sha)),
    })),
  );
  return {
    kind: "bisection",
    repo,
    id,
    status: record.status,
    suite: record.suite,
    jobKey: record.jobKey,
    tests: tests.map((t) => t.shown),
    startedBy: record.startedBy,
    createdAt: record.createdAt,
    good: commitView(serverUrl, repo, record.goodSha),
    bad: commitView(serverUrl, repo, record.badSha, bySha.get(record.badSha)),
    commits: commits.length,
    maxSteps: maxSteps(commits.length),
    checkRunUrl: runUrl(record.checkRunId),
    steps,
    result: culpritOf(record, serverUrl, commits, state),
  };
}

export async function bisectionListData(bisections: BisectionReads, serverUrl: string, repo: string): Promise<BisectionListData> {
  const records = await bisections.recent(repo, RECENT_BISECTIONS);
  return {
    kind: "list",
    repo,
    bisections: records.map((record) => {
      const { commits, state } = parsed(record);
      const result = culpritOf(record, serverUrl, commits, state);
      return {
        id: record.id,
        status: record.status,
        jobKey: record.jobKey,
        goodSha: record.goodSha,
        badSha: record.badSha,
        startedBy: record.startedBy,
        createdAt: record.createdAt,
        steps: state.steps.length,
        culprit: result?.kind === "found" ? result.culprit : null,
      };
    }),
  };
}
