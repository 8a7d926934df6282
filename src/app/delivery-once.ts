import type { Context } from "probot";
import type { Store } from "../orchestrator/store/store.js";
import type { Octokit } from "./github-api.js";
import { retryReads } from "./github-limits.js";

/** Wraps a webhook handler so that each delivery is handled at most once to the end. */
export type Once = <E extends Context>(handler: (context: E) => Promise<void>) => (context: E) => Promise<void>;

/**
 * A delivery handled to the end, or whose plan was made (submitPlan records it with the
 * plan), is not handled again when GitHub redelivers it (same id); one that failed before
 * that is. A webhook has no outbox behind it, so its reads are retried.
 */
export function oncePerDelivery(store: Store, clock: { now: () => number; sleep: (ms: number) => Promise<void> }): Once {
  const { now, sleep } = clock;
  return (handler) => async (context) => {
    if (await store.deliverySeen(context.id)) return;
    retryReads(context.octokit as unknown as Octokit, { attempts: 4, baseDelayMs: 500, maxWaitMs: 120_000, now, sleep });
    await handler(context);
    await store.recordDelivery(context.id, now());
  };
}
