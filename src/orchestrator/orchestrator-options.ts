import { DEFAULT_LIFECYCLE, type LifecycleOptions } from "./job-lifecycle.js";
import { DEFAULT_OUTBOX, type OutboxOptions } from "./outbox-worker.js";

export interface OrchestratorOptions {
  owner: string;
  pollMs: number;
  lockTtlMs: number;
  outboxPollMs: number;
  healthCheckMs: number;
  repoCap?: number;
  /** How long the queue waits after leasing before it leases again (ms), so jobs freed meanwhile share a dispatch; none when absent. */
  gather?: () => Promise<number>;
  lifecycle: LifecycleOptions;
  outbox: OutboxOptions;
  /** Finished plans older than this are pruned every `everyMs`. */
  retention?: { maxAgeMs: number; everyMs: number };
  /** Test results older than this leave the history, pruned every `everyMs`. */
  historyRetention?: { maxAgeMs: number; everyMs: number };
}

export const DEFAULT_ORCHESTRATOR: Omit<OrchestratorOptions, "owner"> = {
  pollMs: 5_000,
  lockTtlMs: 30_000,
  outboxPollMs: 2_000,
  healthCheckMs: 60_000,
  lifecycle: DEFAULT_LIFECYCLE,
  outbox: DEFAULT_OUTBOX,
};

/**
 * Keeps finished plans for `maxAgeMs`, pruned hourly; a retention shorter than an hour is
 * pruned as often as it lasts (at most once a second), so nothing outlives it twice over.
 */
export function pruneAfter(maxAgeMs: number): NonNullable<OrchestratorOptions["retention"]> {
  return { maxAgeMs, everyMs: Math.min(3_600_000, Math.max(1_000, maxAgeMs)) };
}
