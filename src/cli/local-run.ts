import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { parseDuration } from "../config/duration.js";
import type { Plan } from "../config/job-spec.js";
import { systemClock } from "../orchestrator/clock.js";
import { planEffects } from "../orchestrator/job-lifecycle.js";
import { isTerminal } from "../orchestrator/job-state.js";
import { labelsFit } from "../orchestrator/labels.js";
import { OrchestratorService } from "../orchestrator/service.js";
import type { JobRecord, Store } from "../orchestrator/store/store.js";
import type { RunnerFactory } from "../runners/factory.js";
import { writeResultsFolder } from "../runners/report/results-folder.js";
import { jobReport, runReport, type RunReport } from "../runners/report/run-report.js";
import type { TerminalState, ProgressEvent, RunResult } from "../runners/types.js";
import { bootLabel, hostArch } from "../runners/guest-arch.js";
import { LocalDispatcher } from "./local-dispatcher.js";
import { terminalLogger } from "./terminal.js";
import { hostLabels, localJobLabels, LocalPool } from "./local-pool.js";

export interface LocalRunOptions {
  store: Store;
  factory: RunnerFactory;
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
  await options.store.plans.submitPlan(
    {
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
    },
    planEffects(false),
  );
  return resumePlan(planId, options);
}

/** Runs whatever of a stored plan has not finished (all of it for a new plan), then writes its results folder. */
export async function resumePlan(planId: string, options: LocalRunOptions): Promise<RunReport & { planId: string }> {
  const { store, factory } = options;
  const plan = await store.plans.plan(planId);
  if (!plan || !plan.outDir) throw new Error(`no local plan ${planId} in the store`);
  const outDir = plan.outDir;
  const startedAt = new Date();
  const owner = `${hostname()}:${process.pid}:${randomBytes(2).toString("hex")}`;
  const dockerReachable = await factory.docker.ping(3000).then(
    () => true,
    () => false,
  );
  const queued = await store.jobsRepo.jobs({ planId, states: ["queued"] });
  // Probe only the guest architectures this plan boots (a probe boots a kernel; its answer is cached).
  const arches = new Set(queued.flatMap((job) => (job.spec.runner === "qemu" ? [job.spec.arch] : job.labels.includes("kvm") ? [hostArch() ?? "x86_64"] : [])));
  const guests = await Promise.all([...arches].map((guestArch) => factory.qemu.host(guestArch)));
  const pool = new LocalPool(owner, options.concurrency, hostLabels(guests, dockerReachable));
  const dispatcher = new LocalDispatcher({
    factory,
    workspace: plan.workspace,
    outDir,
    heartbeatMs: 5_000,
    report: (jobId, attempt, report) => service.report(jobId, attempt, report),
    onStart: options.onJobStart,
    onEnd: options.onJobEnd,
    onProgress: options.onProgress,
  });
  const service: OrchestratorService = new OrchestratorService({
    store,
    dispatcher,
    pools: [pool],
    clock: systemClock,
    logger: terminalLogger,
    options: {
      owner,
      pollMs: 1_000,
      // Renewed every poll; short, so a resumed run takes over a killed run's queue quickly.
      lockTtlMs: 3_000,
      outboxPollMs: 1_000,
      healthCheckMs: 30_000,
      lifecycle: { leaseMs: 30_000, deadlineGraceMs: 60_000, retryBackoffMs: 500, maxBackoffMs: 5_000 },
      retention: { maxAgeMs: retentionMs(), everyMs: 3_600_000 },
    },
  });
  await service.start();
  const [local] = await pool.list();
  for (const job of queued) {
    if (labelsFit(job.labels, local!.labels)) continue;
    const missing = job.labels.filter((l) => !local!.labels.includes(l));
    const why = guests
      .filter((host) => missing.includes(bootLabel(host.arch)) || (missing.includes("kvm") && host.arch === hostArch()))
      .map((host) => `${host.arch}: ${host.accelerator?.detail ?? "qemu not found"}`);
    const reason = `hardware.labels: this host lacks ${missing.join(", ")}${why.length ? ` (${why.join("; ")})` : ""}`;
    // No retry can grow the host a label: the config has to change, or the job has to go where the label is.
    await service.configError(job, reason);
  }
  service.wake();

  const onAbort = () => void service.cancelPlan(planId, "cancelled");
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await waitForPlan(store, planId);
    await dispatcher.idle();
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await service.stop();
  }
  const jobs = await store.jobsRepo.jobs({ planId });
  const report = runReport(
    plan.source,
    jobs.map((job) => jobReport(job.spec, resultOf(job), dirOf(job))),
    startedAt,
    new Date(),
    planId,
  );
  await writeResultsFolder(
    outDir,
    report,
    jobs.map((job) => ({ name: job.spec.id, result: resultOf(job) })),
  );
  return { ...report, planId };
}

/** Deletes finished runs older than `maxAgeMs` from the store, and their results folders when no later run reused them. */
export async function collectGarbage(store: Store, maxAgeMs: number, now = Date.now()): Promise<{ plans: string[]; folders: string[] }> {
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

function waitForPlan(store: Store, planId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      store.jobsRepo
        .jobs({ planId })
        .then((jobs) => (jobs.every((j) => isTerminal(j.state)) ? resolve() : setTimeout(check, 200)))
        .catch(reject);
    };
    check();
  });
}

function dirOf(job: JobRecord): string {
  return (job.result as { dir?: string } | null)?.dir ?? join("jobs", job.spec.slug);
}

/** The runner's own result when the job ran; otherwise what the orchestrator decided (cancelled before it started, no environment). */
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
