import type { Context } from "probot";
import { z } from "zod";
import type { DeliveryLog } from "../../orchestrator/store/store.js";
import { asOctokit } from "../github/github-api.js";
import { retryReads } from "../github/github-limits.js";

const FULL_NAME = z.string().regex(/^[\w.-]+\/[\w.-]+$/, "owner/name");
const REPOSITORIES = z.array(z.object({ full_name: FULL_NAME })).optional();

/**
 * The fields of a payload every handler relies on: GitHub always sends them so, and a
 * delivery that does not is not GitHub's (its signature only says who sent it, not that it
 * is well formed). Checked here, once, so nothing inside keeps a repository name that is
 * not one.
 */
const TRUSTED_FIELDS = z.object({
  repository: z.object({ full_name: FULL_NAME, name: z.string(), owner: z.object({ login: z.string() }) }).optional(),
  // An App's deliveries always name the installation; without one, Probot's octokit would call
  // GitHub unauthenticated, which GitHub refuses (or answers from a public repository's view).
  installation: z.object({ id: z.number().int().positive() }),
  repositories: REPOSITORIES,
  repositories_added: REPOSITORIES,
  repositories_removed: REPOSITORIES,
});

/** Wraps a webhook handler so that each delivery is handled at most once to the end. */
export type Once = <E extends Context>(handler: (context: E) => Promise<void>) => (context: E) => Promise<void>;

/**
 * A delivery handled to the end, or whose plan was made (submitPlan records it with the
 * plan), is not handled again when GitHub redelivers it (same id); one that failed before
 * that is. A webhook has no outbox behind it, so its reads are retried.
 */
export function oncePerDelivery(store: DeliveryLog, clock: { now: () => number; sleep: (ms: number) => Promise<void> }): Once {
  const { now, sleep } = clock;
  return (handler) => async (context) => {
    const fields = TRUSTED_FIELDS.safeParse(context.payload);
    if (!fields.success) {
      const issue = fields.error.issues[0]!;
      context.log.warn({ delivery: context.id }, `kto: ignored a ${context.name} delivery: ${issue.path.join(".")}: ${issue.message}`);
      return;
    }
    if (await store.deliverySeen(context.id)) return;
    retryReads(asOctokit(context.octokit), { attempts: 4, baseDelayMs: 500, maxWaitMs: 120_000, now, sleep });
    await handler(context);
    await store.recordDelivery(context.id, now());
  };
}
