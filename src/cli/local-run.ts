import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseDuration } from "../config/duration.js";
import type { Plan } from "../config/job-spec.js";
import { systemClock } from "../orchestrator/clock.js";
import { isTerminal } from "../orchestrator/job-state.js";
import { labelsFit } from "../orchestrator/labels.js";
import { pruneAfter } from "../orchestrator/orchestrator-options.js";
import { OrchestratorService, type OrchestratorDeps } from "../orchestrator/service.js";
import type { JobReads, JobRecord, NewPlan, Store } from "../orchestrator/store/store.js";
import type { ExecutorFactory } from "../runners/factory.js";
import { writeResultsFolder } from "../runners/report/results-folder.js";
import { jobReport, runReport, type RunReport } from "../runners/report/run-report.js";
import type { TerminalState, ProgressEvent, RunResult } from "../runners/types.js";
import { bootLabel, hostArch } from "../runners/guest-arch.js";
import type { HostCapabilities } from "../runners/host-capabilities.js";
import { LocalDispatcher } from "./local-dispatcher.js";
import { localBuildOutputs } from "./local-builds.js";
import { terminalLogger } from "./terminal.js";
import { hostLabels, localJobLabels, LocalPool } from "./local-pool.js";

export interface LocalRunOptions {
  store: Store;
  factory: ExecutorFactory;
  concurrency: number;
  signal?: AbortSignal;
  onJobStart?: (jobId: string) => void;
  onJobEnd?: (jobId: string, result: RunResult) => void;
  onProgress?: (event: ProgressEvent) => void;
}

/** Infrastructure attempts for a local job: one more when a run is interrupted and resumed. */
const LOCAL_ATTEMPTS = 2;

/** How long finished runs are kept: KTO_RETENTION, a duration (default 30d). */
export function retentionMs(): number {
  return parseDuration(process.env.KTO_RETENTION ?? "30d") ?? 30 * 86_400_000;
}

export function newPlanId(): string {
  return `${new Date().toISOString().replace(/[-:.]/g, "").slice(0, 15)}-${randomBytes(3).toString("hex")}`;
}

/** Submits a plan to the local orchestrator, runs it to the end and writes the results folder. */
export async function runPlanLocally(
  plan: Plan,
  workspace: string,
  outDir: string,
  options: LocalRunOptions,
  planId = newPlanId(),
): Promise<RunReport & { planId: string }> {
  await mkdir(outDir, { recursive: true });
  await rm(join(outDir, "jobs"), { recursive: true, force: true });
  const submitted = localPlan(plan, planId, workspace, outDir);
  return runToEnd({ id: planId, source: plan.source, workspace, outDir }, submitted.jobs, options, submitted);
}

/** Runs whatever of a stored plan has not finished (all of it for a new plan), then writes its results folder. */
export async function resumePlan(planId: string, options: LocalRunOptions): Promise<RunReport & { planId: string }> {
  // Read before there is an orchestrator to ask: what the plan needs decides the pool it gets.
  const reads: JobReads = options.store;
  const plan = await reads.plans.plan(planId);
  if (!plan || !plan.outDir) throw new Error(`no local plan ${planId} in the store`);
  const queued = await reads.jobs.list({ planId, states: ["queued"] });
  return runToEnd({ ...plan, outDir: plan.outDir }, queued, options);
}

function localPlan(plan: Plan, planId: string, workspace: string, outDir: string): NewPlan {
  return {
    id: planId,
    source: plan.source,
    workspace,
    outDir,
    approved: true,
    now: Date.now(),
    jobs: plan.jobs.map((spec) => ({
      id: `${planId}/${spec.slug}`,
      name: spec.id,
      spec,
      labels: localJobLabels(spec.labels, spec.runner),
      priority: spec.priority,
      maxAttempts: LOCAL_ATTEMPTS,
      retries: spec.retries,
    })),
  };
}

/** What of a plan a local run needs to know before its orchestrator starts. */
interface LocalPlan {
  id: string;
  source: string;
  workspace: string;
  outDir: string;
}

/** A job as the host's probe sees it: what it runs on and the labels it needs. */
type ProbedJob = Pick<JobRecord, "spec" | "labels">;

/**
 * Probes this host for what `jobs` need, runs the local orchestrator until the plan is
 * finished (submitting `submit` first, for a new plan), and writes the results folder.
 */
async function runToEnd(plan: LocalPlan, jobs: readonly ProbedJob[], options: LocalRunOptions, submit?: NewPlan): Promise<RunReport & { planId: string }> {
  const startedAt = new Date();
  const owner = `${hostname()}:${process.pid}:${randomBytes(2).toString("hex")}`;
  const { guests, labels } = await probeHost(options.factory, jobs);
  const pool = new LocalPool(owner, options.concurrency, labels);
  const dispatcher = new LocalDispatcher({
    factory: options.factory,
    workspace: plan.workspace,
    outDir: plan.outDir,
    heartbeatMs: 5_000,
    recordRunEvent: (jobId, attempt, event) => service.recordRunEvent(jobId, attempt, event),
    onStart: options.onJobStart,
    onEnd: options.onJobEnd,
    onProgress: options.onProgress,
    buildOutputs: (job) => localBuildOutputs(service.reads, plan.outDir, job),
  });
  const service: OrchestratorService = new OrchestratorService({
    store: options.store,
    dispatcher,
    pools: [pool],
    clock: systemClock,
    logger: terminalLogger,
    options: localOrchestratorOptions(owner),
  });
  if (submit) await service.submit(submit);
  const queued = await service.reads.jobs.list({ planId: plan.id, states: ["queued"] });
  await service.start();
  for (const job of queued) {
    if (labelsFit(job.labels, labels)) continue;
    const missing = job.labels.filter((l) => !labelsFit([l], labels));
    const why = guests
      .filter((host) => missing.includes(bootLabel(host.arch)) || (missing.includes("kvm") && host.arch === hostArch()))
      .map((host) => `${host.arch}: ${host.accelerator?.detail ?? "qemu not found"}`);
    const reason = `hardware.labels: this host lacks ${missing.join(", ")}${why.length ? ` (${why.join("; ")})` : ""}`;
    // No retry can grow the host a label: the config has to change, or the job has to go where the label is.
    await service.configError(job, reason);
  }
  service.wake();

  const onAbort = () => void service.cancelPlan(plan.id, "cancelled");
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await waitForPlan(service.reads, plan.id);
    await dispatcher.idle();
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await service.stop();
  }
  const jobsRun = await service.reads.jobs.list({ planId: plan.id });
  const report = runReport(
    plan.source,
    jobsRun.map((job) => jobReport(job.spec, resultOf(job), dirOf(job))),
    startedAt,
    new Date(),
    plan.id,
  );
  await writeResultsFolder(
    plan.outDir,
    report,
    jobsRun.map((job) => ({ spec: job.spec, result: resultOf(job) })),
  );
  return { ...report, planId: plan.id };
}

/** This host's labels, and the guests it can boot: only the guest architectures `jobs` boot are probed (a probe boots a kernel; its answer is cached). */
async function probeHost(factory: ExecutorFactory, jobs: readonly ProbedJob[]): Promise<{ guests: HostCapabilities[]; labels: string[] }> {
  const dockerReachable = await factory.docker.ping(3000).then(
    () => true,
    () => false,
  );
  const arches = new Set(jobs.flatMap((job) => (job.spec.runner === "qemu" ? [job.spec.arch] : job.labels.includes("kvm") ? [hostArch() ?? "x86_64"] : [])));
  const guests = await Promise.all([...arches].map((guestArch) => factory.qemu.host(guestArch)));
  return { guests, labels: hostLabels(guests, dockerReachable) };
}

/** One `kto run`'s orchestrator: someone waits at the terminal for it, so it polls and delivers every second. */
function localOrchestratorOptions(owner: string): OrchestratorDeps["options"] {
  return {
    owner,
    pollMs: 1_000,
    // Renewed every poll; short, so a resumed run takes over a killed run's queue quickly.
    lockTtlMs: 3_000,
    outboxPollMs: 1_000,
    healthCheckMs: 30_000,
    lifecycle: { leaseMs: 30_000, deadlineGraceMs: 60_000, retryBackoffMs: 500, maxBackoffMs: 5_000 },
    retention: pruneAfter(retentionMs()),
  };
}

/** What `kto gc` does to the store, with no orchestrator running: it reads plans and prunes those finished. */
type PlanPruning = { plans: Pick<Store["plans"], "planIds" | "plan" | "pruneFinishedPlans"> };

/** Deletes finished runs older than `maxAgeMs` from the store, and their results folders when no later run reused them. */
export async function collectGarbage(store: PlanPruning, maxAgeMs: number, now = Date.now()): Promise<{ plans: string[]; folders: string[] }> {
  const outDirs = new Map<string, string>();
  for (const id of await store.plans.planIds()) {
    const plan = await store.plans.plan(id);
    if (plan?.outDir) outDirs.set(id, plan.outDir);
  }
  const plans = await store.plans.pruneFinishedPlans(now - maxAgeMs);
  const folders: string[] = [];
  for (const id of plans) {
    const dir = outDirs.get(id);
    if (!dir) continue;
    const report = await readFile(join(dir, "results.json"), "utf8")
      .then((t) => JSON.parse(t) as { run?: string })
      .catch(() => null);
    if (report?.run !== id) continue;
    await rm(dir, { recursive: true, force: true });
    folders.push(dir);
  }
  return { plans, folders };
}

function waitForPlan(reads: JobReads, planId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      reads.jobs
        .list({ planId })
        .then((jobs) => (jobs.every((j) => isTerminal(j.state)) ? resolve() : setTimeout(check, 200)))
        .catch(reject);
    };
    check();
  });
}

function dirOf(job: JobRecord): string {
  return (job.result as { dir?: string } | null)?.dir ?? join("jobs", job.spec.slug);
}

/** The runner's own result when the job ran; otherwise what the orchestrator decided (cancelled before it started, no runner). */
function resultOf(job: JobRecord): RunResult {
  if (job.result && job.state !== "cancelled") return job.result as RunResult;
  if (job.result && job.state === "cancelled") return { ...(job.result as RunResult), status: "cancelled", outcome: "cancelled" };
  const at = new Date(job.finishedAt ?? Date.now()).toISOString();
  return {
    jobId: job.spec.id,
    status: job.state as TerminalState,
    outcome:
      job.state === "cancelled" ? "cancelled" : job.state === "timed_out" ? "timed_out" : job.outcome === "config_error" ? "config_error" : "infrastructure",
    reason: job.reason ?? job.state,
    exitCode: null,
    startedAt: at,
    finishedAt: at,
    durationMs: 0,
    results: null,
    metrics: { wallMs: 0, cpuMs: null, memoryPeakBytes: null },
    artifacts: [],
    logs: { stdout: "stdout.log", stderr: "stderr.log" },
    stdoutTruncated: false,
    stderrTruncated: false,
  };
}
