import type { Insertable, Transaction } from "kysely";
import { canTransition, isTerminal, sourcesOf } from "../job-state.js";
import { buildNeededBy, buildOf, releaseOf, waitingOn, type BuildEnd } from "./build-dependencies.js";
import type { Engine } from "./migrations.js";
import { toJob, type Effect, type JobPatch, type JobRecord, type ReleaseEffects, type TransitionRequest } from "./records.js";
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
  // A build is locked before the jobs that wait for it, here as when it ends: two
  // transactions taking them the other way round would deadlock.
  if (engine === "postgres" && request.to === "waiting") {
    const buildId = await buildNeededBy(trx, request.jobId);
    if (buildId) await buildOf(trx, engine, buildId);
  }
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

/** A job a transaction moved, with what moving the jobs that wait for it implies. */
interface Moved {
  job: JobRecord;
  released: ReleaseEffects | undefined;
  now: number;
}

/** Moves one waiting job as its build's end says. */
async function release(
  trx: Transaction<Database>,
  engine: Engine,
  dependent: { id: string; planId: string; attempt: number },
  build: BuildEnd,
  moved: Moved,
  writes: PendingWrites,
): Promise<JobRecord | null> {
  const next = releaseOf(build);
  if (!next) return null;
  return applyOne(
    trx,
    engine,
    {
      jobId: dependent.id,
      from: ["waiting"],
      to: next.to,
      set: next.to === "skipped" ? { outcome: "skipped", reason: next.reason } : { reason: null },
      reason: next.reason,
      effects: moved.released?.(dependent, next.to) ?? [],
      released: moved.released,
      now: moved.now,
    },
    writes,
  );
}

/**
 * The graph kept in step, in the transaction of the moves that change it: a build that
 * ended releases its waiting dependents to the queue (it succeeded) or skips them (it did
 * not); a job that starts to wait for a build that has already ended is released at once.
 * So no path to a terminal state can leave a job waiting for good, and a crash rolls back
 * a build's end together with what it released.
 */
async function settleDependencies(trx: Transaction<Database>, engine: Engine, moves: Moved[], writes: PendingWrites): Promise<void> {
  for (let i = 0; i < moves.length; i++) {
    const moved = moves[i]!;
    const { job } = moved;
    const next: (JobRecord | null)[] = [];
    if (isTerminal(job.state) && job.spec.runner === "build") {
      const build = { id: job.id, name: job.name, state: job.state, reason: job.reason };
      for (const row of await waitingOn(trx, job.id))
        next.push(await release(trx, engine, { id: row.id, planId: row.plan_id, attempt: row.attempt }, build, moved, writes));
    } else if (job.state === "waiting" && job.needsJobId) {
      const build = await buildOf(trx, engine, job.needsJobId);
      // A build pruned away with its plan cannot succeed any more.
      next.push(
        await release(trx, engine, job, build ?? { id: job.needsJobId, name: job.needsJobId, state: "errored", reason: "no longer known" }, moved, writes),
      );
    }
    for (const done of next) if (done) moves.push({ job: done, released: moved.released, now: moved.now });
  }
}

/**
 * State changes, their audit rows and the side effects they imply, inside `trx`: each
 * guarded by the job's state (and attempt), a null where the guard does not hold. A
 * scheduling pass's decisions share one transaction and so one commit. The jobs waiting
 * for a build that ends here move in the same transaction.
 */
export async function applyTransitions(trx: Transaction<Database>, engine: Engine, requests: readonly TransitionRequest[]): Promise<(JobRecord | null)[]> {
  const writes = new PendingWrites();
  const results: (JobRecord | null)[] = [];
  const moves: Moved[] = [];
  for (const request of requests) {
    const job = await applyOne(trx, engine, request, writes);
    results.push(job);
    if (job) moves.push({ job, released: request.released, now: request.now });
  }
  await settleDependencies(trx, engine, moves, writes);
  await writes.flush(trx);
  return results;
}

/** Jobs just inserted waiting for a build outside their plan, which may have ended already: released now, in `trx`. */
export async function settleWaiting(
  trx: Transaction<Database>,
  engine: Engine,
  jobIds: readonly string[],
  released: ReleaseEffects,
  now: number,
): Promise<void> {
  if (jobIds.length === 0) return;
  const writes = new PendingWrites();
  const rows = await trx
    .selectFrom("jobs")
    .selectAll()
    .where("id", "in", [...jobIds])
    .where("state", "=", "waiting")
    .orderBy("seq")
    .execute();
  await settleDependencies(
    trx,
    engine,
    rows.map((row) => ({ job: toJob(row), released, now })),
    writes,
  );
  await writes.flush(trx);
}

/** Effects recorded outside a transition (a plan's own), in `trx`. */
export async function recordEffects(trx: Transaction<Database>, owner: string, effects: readonly Effect[], now: number): Promise<void> {
  const writes = new PendingWrites();
  writes.addEffects(owner, effects, now);
  await writes.flush(trx);
}
