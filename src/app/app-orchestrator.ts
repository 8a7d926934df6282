import type { Clock } from "../orchestrator/clock.js";
import { DEFAULT_OUTBOX } from "../orchestrator/outbox-worker.js";
import { pruneAfter, type OrchestratorOptions } from "../orchestrator/orchestrator-options.js";
import { OrchestratorService, type OrchestratorDeps } from "../orchestrator/service.js";
import type { JobRecord, Store } from "../orchestrator/store/store.js";
import { CommitAncestry } from "./history/commit-ancestry.js";
import { ResultJudge } from "./history/result-judge.js";
import type { BaselineScheduler } from "./history/baseline-scheduler.js";
import { ResultsPolicyReader } from "./history/results-policy.js";
import { CheckRunPublisher } from "./github/check-run-publisher.js";
import { bisectingPublisher } from "./bisect/bisecting-publisher.js";
import { dispatchGather } from "./github/dispatch-gather.js";
import { GitHubDispatcher } from "./github/github-dispatcher.js";
import type { GitHubClient } from "./github/github-client.js";
import type { GitHubRunnerPool } from "./github/github-runner-pool.js";
import type { AppSettings } from "./settings.js";

/** Where links to repositories, check runs and workflow runs point: github.com, or the GHES host. */
export function serverUrlOf(settings: AppSettings): string {
  return settings.GHE_HOST ? `${settings.GHE_PROTOCOL}://${settings.GHE_HOST}` : "https://github.com";
}

/** Judges a finished job against its baseline's results: its check run, and a press of its Bisect button, ask it. */
export function resultJudge(store: Store, github: GitHubClient, clock: Clock, baselines?: Pick<BaselineScheduler, "request">): ResultJudge {
  return new ResultJudge({
    history: store.history,
    ancestry: new CommitAncestry(github.octokitFor),
    policy: new ResultsPolicyReader(() => clock.now()),
    octokitFor: github.octokitFor,
    ...(baselines ? { baselines } : {}),
  });
}

/** Runs dispatched as workflow runs of the runner workflow, on the App's installations. */
export function appDispatcher(
  settings: AppSettings,
  store: Store,
  github: GitHubClient,
  clock: Clock,
  lookup: { delayMs?: number; windowMs?: number },
): GitHubDispatcher {
  return new GitHubDispatcher(store, github.octokitFor, {
    workflow: settings.KTO_WORKFLOW,
    appUrl: settings.KTO_PUBLIC_URL.replace(/\/$/, ""),
    runDetails: !settings.GHE_HOST,
    maxInputs: settings.GHE_HOST ? 10 : 25,
    batchJobs: settings.KTO_DISPATCH_BATCH,
    botLogin: github.botLogin,
    lookupDelayMs: lookup.delayMs ?? 3_000,
    lookupWindowMs: lookup.windowMs ?? 15_000,
    now: () => clock.now(),
    log: (line) => github.log.warn(`kto: ${line}`),
  });
}

/** The orchestrator as the App runs it: its jobs dispatched as workflow runs, on GitHub's runners, told as check runs. */
export function appOrchestrator(deps: {
  settings: AppSettings;
  store: Store;
  github: GitHubClient;
  dispatcher: GitHubDispatcher;
  pool: GitHubRunnerPool;
  clock: Clock;
  /** kto keeps its budget under GitHub's limits: only then does the gather grow as an installation's budget fills. */
  budgeted: boolean;
  options: OrchestratorDeps["options"];
  /** Hears every job's end after its check run is sent: a bisection's step moves on, a late baseline judges its pull requests. */
  jobEnded?: (job: JobRecord) => Promise<void>;
  /** Judges each finished job's results against its baseline's, for its check run. */
  judge: ResultJudge;
}): OrchestratorService {
  const { settings, store, github, clock } = deps;
  const baseGatherMs = settings.KTO_DISPATCH_GATHER_SECONDS * 1000;
  const checkRuns = new CheckRunPublisher(store, github.octokitFor, {
    now: () => clock.now(),
    serverUrl: serverUrlOf(settings),
    appId: Number(settings.APP_ID),
    judge: deps.judge,
    log: (message) => github.log.warn(message),
  });
  const jobEnded = deps.jobEnded;
  return new OrchestratorService({
    store,
    dispatcher: deps.dispatcher,
    publisher: jobEnded ? bisectingPublisher(checkRuns, jobEnded) : checkRuns,
    pools: [deps.pool],
    clock,
    logger: github.log,
    options: { gather: deps.budgeted ? dispatchGather(store.githubBudget, clock, baseGatherMs) : () => Promise.resolve(baseGatherMs), ...deps.options },
  });
}

/** The App's orchestrator options: its settings, then what the caller overrides. */
export function appOrchestratorOptions(settings: AppSettings, throttled: boolean, overrides: Partial<OrchestratorOptions> = {}): OrchestratorDeps["options"] {
  return {
    owner: `app:${process.pid}:${Math.random().toString(36).slice(2, 8)}`,
    healthCheckMs: settings.KTO_RUNNER_SYNC_SECONDS * 1000,
    lockTtlMs: settings.KTO_LEASE_SECONDS * 1000,
    retention: pruneAfter(settings.KTO_RETENTION),
    historyRetention: pruneAfter(settings.KTO_HISTORY_RETENTION),
    ...overrides,
    // GitHub takes an installation's writes a second apart: they go one job at a time, in
    // priority order, rather than one per outbox worker in the order they queued.
    outbox: { ...DEFAULT_OUTBOX, ...(throttled ? { lanesPerInstallation: 1 } : {}), ...overrides.outbox },
  };
}
