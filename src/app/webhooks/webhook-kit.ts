import type { OrchestratorService } from "../../orchestrator/service.js";
import type { JobReads, JobRecord } from "../../orchestrator/store/store.js";
import { approveJobs } from "../trust/approval.js";
import { basePolicyCache, type BasePolicy } from "../trust/base-policy.js";
import { oncePerDelivery, type Once } from "./delivery-once.js";
import type { FindRun } from "../github/github-dispatcher.js";
import type { GitHubRunnerPool } from "../github/github-runner-pool.js";
import { jobCancellation, type JobCancellation } from "./job-cancellation.js";
import { lostRunFailer, type FailLostRun } from "./lost-run.js";
import { planSubmitter, type PlanSubmitter } from "./plan-submitter.js";
import type { Writer } from "../trust/trust-gate.js";
import type { Bisector } from "../bisect/bisector.js";

/** The runner pool as webhook handlers have it: which repositories it lists, and what a workflow_job event says of a runner. */
export type HandlerPool = Pick<GitHubRunnerPool, "track" | "untrack" | "knownRunnerOf" | "observe" | "unknownRunner" | "runLost">;

export interface HandlerDeps {
  service: HandlerService & Pick<OrchestratorService, "submit" | "approve" | "deliveries">;
  pool: HandlerPool;
  /** Finds a run kto has not bound to its attempt yet, by run-name. */
  findRun: FindRun;
  now?: () => number;
  /** Waits on the App's clock: a webhook's read that failed waits this long to try again. */
  sleep?: (ms: number) => Promise<void>;
  /** Counts a failed webhook in the metrics. */
  onError?: (event: string) => void;
  /** Bisects a regression when a writer presses its check run's Bisect button; without it the button does nothing. */
  bisector?: Pick<Bisector, "offered" | "start" | "stopOffered">;
}

/**
 * The orchestrator as a webhook handler has it: a plan goes in only through `plans`, with the
 * trust gate's decision, and held jobs are let out only through `approve`, by a writer.
 */
export type HandlerService = Pick<OrchestratorService, "reads" | "cancelJobs" | "failRun" | "recordRunId" | "syncRunners" | "takeOffline" | "wake">;

/** What every webhook handler works with; one per ktoHandlers, so its handlers share the policy cache. */
export interface WebhookKit {
  service: HandlerService;
  pool: HandlerPool;
  /** Jobs and plans, to read: a handler changes a job only through the service. */
  reads: JobReads;
  now: () => number;
  once: Once;
  basePolicy: BasePolicy;
  plans: PlanSubmitter;
  /** Lets held jobs run, on the word of someone GitHub says can write to their repository. */
  approve: (approver: Writer, jobs: readonly JobRecord[]) => Promise<void>;
  cancellation: JobCancellation;
  /** A run of kto's that ended without its final report: its attempt fails, bound to the run first if it was not. */
  failLostRun: FailLostRun;
  bisector: Pick<Bisector, "offered" | "start" | "stopOffered"> | null;
}

export function webhookKit(deps: HandlerDeps): WebhookKit {
  const { service, pool } = deps;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return {
    service,
    pool,
    reads: service.reads,
    now,
    once: oncePerDelivery(service.deliveries, { now, sleep }),
    basePolicy: basePolicyCache(now),
    plans: planSubmitter({ service, pool, now }),
    approve: (approver, jobs) => approveJobs(service, approver, jobs),
    cancellation: jobCancellation(service),
    failLostRun: lostRunFailer(service, deps.findRun),
    bisector: deps.bisector ?? null,
  };
}
