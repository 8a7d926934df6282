import { buildNeeded } from "../../config/job-spec.js";
import type { JobReads, JobRecord, PlanRecord } from "../../orchestrator/store/store.js";
import type { JobReport } from "../../runners/report/run-report.js";
import { CONCLUSION } from "../github/check-run-conclusion.js";
import { testCountsTitle } from "../github/check-run-publisher.js";
import { RUNNER_LABEL_PREFIX, runnerOf, uniqueRunnerLabel } from "../github/github-runner-pool.js";

export interface DashboardData {
  generatedAt: number;
  counts: Record<string, number>;
  /** Waiting jobs in dispatch order: priority, then arrival. */
  queue: {
    id: string;
    name: string;
    repo: string | null;
    priority: number;
    labels: string[];
    attempt: number;
    queuedAt: number;
    approval: boolean;
    /** The build it waits for (its name), before it may join the queue; null when it waits for a runner or an approval. */
    waitingFor: string | null;
  }[];
  runners: { id: string; name: string; labels: string[]; state: string; busy: boolean; job: string | null }[];
  running: { id: string; name: string; repo: string | null; state: string; runner: string | null; since: number; runUrl: string | null }[];
  recent: {
    id: string;
    name: string;
    repo: string | null;
    state: string;
    conclusion: string;
    title: string;
    finishedAt: number | null;
    durationMs: number | null;
    checkRunUrl: string | null;
    runUrl: string | null;
  }[];
}

/** What the dashboard shows, read from the store in one pass; links point at GitHub (or GHES). */
export async function dashboardData(store: JobReads, serverUrl: string, now: number, recentLimit = 25): Promise<DashboardData> {
  const plans = new Map<string, PlanRecord | null>();
  const planOf = async (job: JobRecord) => {
    if (!plans.has(job.planId)) plans.set(job.planId, await store.plans.plan(job.planId));
    return plans.get(job.planId) ?? null;
  };
  const runUrl = (job: JobRecord) => (job.repo && job.runId !== null ? `${serverUrl}/${job.repo}/actions/runs/${job.runId}` : null);
  // Queued first in dispatch order, then those waiting for a build, then those waiting for an approval.
  const queued = await store.jobs.list({ states: ["queued", "waiting", "awaiting_approval"] });
  const rank = (job: JobRecord) => ["queued", "waiting", "awaiting_approval"].indexOf(job.state);
  queued.sort((a, b) => rank(a) - rank(b) || b.priority - a.priority || a.seq - b.seq);
  const active = await store.jobs.list({ states: ["dispatched", "running"] });
  const jobOnRunner = new Map(active.map((j) => [j.runnerId, j.id]));
  const recent = await store.jobs.recentlyFinished(recentLimit);
  const recentRows: DashboardData["recent"] = [];
  for (const job of recent) {
    const plan = await planOf(job);
    const report = job.result as Partial<JobReport> | null;
    recentRows.push({
      id: job.id,
      name: job.name,
      repo: job.repo,
      state: job.state,
      conclusion: CONCLUSION[job.state as keyof typeof CONCLUSION] ?? job.state,
      title: testCountsTitle(report?.tests) ?? (job.reason ?? job.state).split("\n")[0]!.slice(0, 200),
      finishedAt: job.finishedAt,
      durationMs: job.finishedAt && job.startedAt ? job.finishedAt - job.startedAt : null,
      checkRunUrl: plan?.repo && job.checkRunId ? `${serverUrl}/${plan.repo}/runs/${job.checkRunId}` : null,
      runUrl: runUrl(job),
    });
  }
  const runners = await store.runners.list();
  const nameOf = (runnerId: string) => runnerName(runners.find((e) => e.id === runnerId)?.labels ?? []) ?? runnerOf(runnerId);
  return {
    generatedAt: now,
    counts: await store.jobs.countsByState(),
    queue: queued.map((j) => ({
      id: j.id,
      name: j.name,
      repo: j.repo,
      priority: j.priority,
      labels: j.labels,
      attempt: j.attempt,
      queuedAt: j.queuedAt,
      approval: j.state === "awaiting_approval",
      waitingFor: j.state === "waiting" ? (buildNeeded(j.spec) ?? j.needsJobId) : null,
    })),
    runners: runners.map((e) => ({
      id: e.id,
      name: nameOf(e.id),
      labels: e.labels,
      state: e.state,
      busy: jobOnRunner.has(e.id),
      job: jobOnRunner.get(e.id) ?? null,
    })),
    running: active.map((j) => ({
      id: j.id,
      name: j.name,
      repo: j.repo,
      state: j.state,
      runner: j.runnerId ? nameOf(j.runnerId) : null,
      since: j.startedAt ?? j.dispatchedAt ?? j.queuedAt,
      runUrl: runUrl(j),
    })),
    recent: recentRows,
  };
}

function runnerName(labels: string[]): string | null {
  return uniqueRunnerLabel(labels)?.slice(RUNNER_LABEL_PREFIX.length) ?? null;
}
