import type { OrchestratorService } from "../orchestrator/service.js";
import type { JobReads } from "../orchestrator/store/store.js";
import { basePolicyCache, type BasePolicy } from "./base-policy.js";
import { oncePerDelivery, type Once } from "./delivery-once.js";
import type { GitHubRunnerPool } from "./github-runner-pool.js";
import { jobCancellation, type JobCancellation } from "./job-cancellation.js";
import { planSubmitter, type PlanSubmitter } from "./plan-submitter.js";

export interface HandlerDeps {
  service: OrchestratorService;
  pool: GitHubRunnerPool;
  now?: () => number;
  /** Waits on the App's clock: a webhook's read that failed waits this long to try again. */
  sleep?: (ms: number) => Promise<void>;
  /** Counts a failed webhook in the metrics. */
  onError?: (event: string) => void;
}

/** What every webhook handler works with; one per ktoHandlers, so its handlers share the policy cache. */
export interface WebhookKit {
  service: OrchestratorService;
  pool: GitHubRunnerPool;
  /** Jobs and plans, to read: a handler changes a job only through the service. */
  reads: JobReads;
  now: () => number;
  once: Once;
  basePolicy: BasePolicy;
  plans: PlanSubmitter;
  cancellation: JobCancellation;
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
    cancellation: jobCancellation(service),
  };
}
