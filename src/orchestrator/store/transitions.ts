import type { Insertable, Transaction } from "kysely";
import { canTransition, isTerminal, sourcesOf } from "../job-state.js";
import type { Engine } from "./migrations.js";
import { toJob, type Effect, type JobPatch, type JobRecord, type TransitionRequest } from "./records.js";
import type { Database, OutboxTable, TransitionsTable } from "./schema.js";

/** Rows a multi-row insert carries at most: well inside both engines' limits on bound parameters. */
const ROWS_PER_INSERT = 500;

/** Audit rows and effects of a transaction's transitions, written together when it ends. */
class PendingWrites {
  readonly audit: Insertable<TransitionsTable>[] = [];
  readonly effects: (Insertable<OutboxTable> & { job_id: string; priority: number })[] = [];

  addEffects(ownerDefault: string, effects: readonly Effect[], now: number): void {
    for (const effect of effects) {
      this.effects.push({
        job_id: effect.jobId ?? ownerDefault,
        kind: effect.kind,
        idempotency_key: effect.key,
        payload: JSON.stringify(effect.payload),
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
        priority: effect.priority ?? 0,
      });
    }
  }

  /**
   * An owner's earlier effects go no later than a later one: ordering by priority then
   * keeps each owner's effects in order. Within this batch that is done here; effects
   * already in the outbox are raised by one update per priority.
   */
  async flush(trx: Transaction<Database>): Promise<void> {
    // One effect per key: a plan's approval check run is asked for once however many of its jobs ask.
    const keys = new Set<string>();
    const effects = this.effects.filter((row) => !keys.has(row.idempotency_key) && keys.add(row.idempotency_key));
    this.effects.length = 0;
    this.effects.push(...effects);
    const highest = new Map<string, number>();
    for (let i = this.effects.length - 1; i >= 0; i--) {
      const row = this.effects[i]!;
      const later = highest.get(row.job_id) ?? 0;
      if (later > row.priority) row.priority = later;
      else highest.set(row.job_id, row.priority);
    }
    const owners = new Map<number, string[]>();
    for (const [owner, priority] of highest) if (priority > 0) owners.set(priority, [...(owners.get(priority) ?? []), owner]);
    for (const [priority, ids] of owners) {
      for (const chunk of chunks(ids)) {
        await trx
          .updateTable("outbox")
          .set({ priority })
          .where("job_id", "in", chunk)
          .where("done_at", "is", null)
          .where("failed_at", "is", null)
          .where("priority", "<", priority)
          .execute();
      }
    }
    for (const chunk of chunks(this.audit)) await trx.insertInto("transitions").values(chunk).execute();
    for (const chunk of chunks(this.effects)) {
      await trx
        .insertInto("outbox")
        .values(chunk)
        .onConflict((oc) => oc.column("idempotency_key").doNothing())
        .execute();
    }
  }
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ROWS_PER_INSERT) out.push(items.slice(i, i + ROWS_PER_INSERT));
  return out;
}

function stampsOf(request: TransitionRequest): JobPatch {
  const stamps: JobPatch = {};
  if (request.to === "dispatched") stamps.dispatched_at = request.now;
  if (request.to === "running") stamps.started_at = request.now;
  if (request.to === "queued") stamps.queued_at = request.now;
  if (isTerminal(request.to)) {
    stamps.finished_at = request.now;
    stamps.lease_expires = null;
  }
  return stamps;
}

async function applyOne(trx: Transaction<Database>, engine: Engine, request: TransitionRequest, writes: PendingWrites): Promise<JobRecord | null> {
  const from = request.from ?? sourcesOf(request.to);
  let fromState = from.length === 1 ? from[0]! : null;
  // PostgreSQL locks the row first (or skips a locked one); SQLite, whose writers are
  // serialised, needs no read when only one state may move: the update's guard is the check.
  if (engine === "postgres" || fromState === null) {
    let query = trx.selectFrom("jobs").select(["state", "attempt"]).where("id", "=", request.jobId);
    if (engine === "postgres") query = request.skipLocked ? query.forUpdate().skipLocked() : query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row || !from.includes(row.state)) return null;
    if (request.attempt !== undefined && row.attempt !== request.attempt) return null;
    fromState = row.state;
  }
  if (!canTransition(fromState, request.to)) return null;
  let update = trx
    .updateTable("jobs")
    .set({ ...stampsOf(request), ...request.set, state: request.to })
    .where("id", "=", request.jobId)
    .where("state", "=", fromState);
  if (request.attempt !== undefined) update = update.where("attempt", "=", request.attempt);
  const updated = await update.returningAll().executeTakeFirst();
  if (!updated) return null;
  writes.audit.push({
    job_id: request.jobId,
    attempt: updated.attempt,
    from_state: fromState,
    to_state: request.to,
    at: request.now,
    reason: request.reason ?? null,
  });
  writes.addEffects(request.jobId, request.effects ?? [], request.now);
  return toJob(updated);
}

/**
 * State changes, their audit rows and the side effects they imply, inside `trx`: each
 * guarded by the job's state (and attempt), a null where the guard does not hold. A
 * scheduling pass's decisions share one transaction and so one commit.
 */
export async function applyTransitions(trx: Transaction<Database>, engine: Engine, requests: readonly TransitionRequest[]): Promise<(JobRecord | null)[]> {
  const writes = new PendingWrites();
  const results: (JobRecord | null)[] = [];
  for (const request of requests) results.push(await applyOne(trx, engine, request, writes));
  await writes.flush(trx);
  return results;
}

/** Effects recorded outside a transition (a plan's own), in `trx`. */
export async function recordEffects(trx: Transaction<Database>, owner: string, effects: readonly Effect[], now: number): Promise<void> {
  const writes = new PendingWrites();
  writes.addEffects(owner, effects, now);
  await writes.flush(trx);
}
