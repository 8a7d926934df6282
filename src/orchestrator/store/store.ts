import { sql, type Kysely, type Selectable, type Transaction, type Updateable } from "kysely";
import type { JobSpec } from "../../config/job-spec.js";
import { canTransition, isTerminal, sourcesOf, type JobState, JOB_STATES, ACTIVE_STATES, TERMINAL_STATES } from "../job-state.js";
import { approvalEffect, effectPriority } from "../job-lifecycle.js";
import type { Engine } from "./migrations.js";
import type { Database, EnvironmentState, JobsTable, OutboxKind } from "./schema.js";

export interface JobRecord {
  seq: number;
  id: string;
  planId: string;
  name: string;
  repo: string | null;
  spec: JobSpec;
  labels: string[];
  priority: number;
  state: JobState;
  attempt: number;
  maxAttempts: number;
  retriesLeft: number;
  flaky: boolean;
  notBefore: number;
  envId: string | null;
  leaseExpires: number | null;
  deadline: number | null;
  runId: string | null;
  outcome: string | null;
  reason: string | null;
  result: unknown;
  createdAt: number;
  queuedAt: number;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  checkRunId: number | null;
}

export interface PlanRecord {
  id: string;
  source: string;
  workspace: string;
  outDir: string | null;
  repo: string | null;
  groupKey: string | null;
  installationId: number | null;
  headSha: string | null;
  defaultRef: string | null;
  createdAt: number;
  approvalCheckRunId: number | null;
}

export interface EnvironmentRecord {
  id: string;
  pool: string;
  labels: string[];
  capacity: number;
  state: EnvironmentState;
  lastSeen: number;
}

export interface OutboxRecord {
  id: number;
  jobId: string;
  kind: OutboxKind;
  key: string;
  payload: unknown;
  attempts: number;
  nextAttemptAt: number;
  priority: number;
  /** When an earlier try was sent, or may have been (a crash before its outcome was recorded); null if none was. */
  sentAt: number | null;
  createdAt: number;
  /** The GitHub installation it acts as (App plans); null locally. */
  installationId: number | null;
}

export interface Effect {
  kind: OutboxKind;
  /** Unique per side effect: a redelivery carries the same key, so the receiver can drop it. */
  key: string;
  payload: unknown;
  /** Higher goes out first (effectPriority); 0 when not given. */
  priority?: number;
  /** Whose effect it is, when not the transitioning job's: a plan's approval check run. */
  jobId?: string;
}

export type JobPatch = Omit<Updateable<JobsTable>, "seq" | "id" | "state" | "plan_id">;

export interface TransitionRequest {
  jobId: string;
  to: JobState;
  /** Apply only from these states (default: every state the machine allows). */
  from?: readonly JobState[];
  /** Apply only at this attempt: a late report from an older attempt changes nothing. */
  attempt?: number;
  set?: JobPatch;
  reason?: string;
  effects?: Effect[];
  /** PostgreSQL: skip a job another transaction holds instead of waiting for it (claims). */
  skipLocked?: boolean;
  now: number;
}

export interface NewJob {
  id: string;
  name: string;
  spec: JobSpec;
  labels: string[];
  priority: number;
  maxAttempts: number;
  retries: number;
}

export interface NewPlan {
  id: string;
  source: string;
  workspace: string;
  groupKey?: string;
  repo?: string;
  outDir?: string;
  installationId?: number;
  headSha?: string;
  defaultRef?: string;
  /** Record a report effect per job, so the App's reporter shows each one at once (check runs). */
  report?: boolean;
  jobs: NewJob[];
  /** Jobs of untrusted plans wait in awaiting_approval. */
  approved: boolean;
  /** Why they wait, shown to the people who can approve. */
  approvalReason?: string;
  /** The webhook delivery the plan answers: recorded with it, so a redelivery makes no second plan. */
  deliveryId?: string;
  now: number;
}

type Db = Kysely<Database> | Transaction<Database>;

function toJob(row: Selectable<JobsTable>): JobRecord {
  return {
    seq: Number(row.seq),
    id: row.id,
    planId: row.plan_id,
    name: row.name,
    repo: row.repo,
    spec: JSON.parse(row.spec) as JobSpec,
    labels: JSON.parse(row.labels) as string[],
    priority: row.priority,
    state: row.state,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    retriesLeft: row.retries_left,
    flaky: row.flaky === 1,
    notBefore: row.not_before,
    envId: row.env_id,
    leaseExpires: row.lease_expires,
    deadline: row.deadline,
    runId: row.run_id,
    outcome: row.outcome,
    reason: row.reason,
    result: row.result === null ? null : JSON.parse(row.result),
    createdAt: row.created_at,
    queuedAt: row.queued_at,
    dispatchedAt: row.dispatched_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    checkRunId: row.check_run_id === null ? null : Number(row.check_run_id),
  };
}

/** The orchestrator's persistence: one schema and one set of queries for SQLite and PostgreSQL. */
export class Store {
  constructor(
    readonly db: Kysely<Database>,
    readonly engine: Engine,
  ) {}

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /**
   * Inserts a plan and its jobs. A plan in the same group (a newer push to the same pull
   * request) cancels the older plan's unfinished jobs in the same transaction.
   */
  async submitPlan(plan: NewPlan): Promise<{ cancelled: string[]; duplicate: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const cancelled: string[] = [];
      if (plan.deliveryId !== undefined) {
        // Two deliveries with one id (GitHub's redelivery racing the first): the second plans nothing.
        const recorded = await trx.insertInto("deliveries").values({ id: plan.deliveryId, at: plan.now }).onConflict((oc) => oc.column("id").doNothing()).executeTakeFirst();
        if (Number(recorded.numInsertedOrUpdatedRows ?? 0) !== 1) return { cancelled, duplicate: true };
      }
      if (plan.groupKey) {
        const older = await trx
          .selectFrom("jobs")
          .innerJoin("plans", "plans.id", "jobs.plan_id")
          .select(["jobs.id", "jobs.plan_id", "jobs.state", "jobs.attempt", "jobs.run_id", "jobs.env_id"])
          .where("plans.group_key", "=", plan.groupKey)
          .where("plans.id", "!=", plan.id)
          .where("jobs.state", "in", ["awaiting_approval", "queued", "dispatched", "running"])
          .execute();
        const approvals = new Set<string>();
        for (const job of older) {
          const effects: Effect[] = [];
          if (job.state === "dispatched" || job.state === "running") {
            effects.push({ kind: "cancel", key: `cancel:${job.id}#${job.attempt}`, payload: { attempt: job.attempt, runId: job.run_id, envId: job.env_id, why: "superseded" }, priority: effectPriority("cancel") });
          }
          // A job that was waiting for approval shows only in its plan's approval check run, once per plan.
          if (plan.report && job.state !== "awaiting_approval") effects.push({ kind: "report", key: `report:${job.id}:${plan.now}:superseded`, payload: { to: "cancelled" }, priority: effectPriority("report", "cancelled") });
          if (plan.report && job.state === "awaiting_approval" && !approvals.has(job.plan_id)) {
            approvals.add(job.plan_id);
            effects.push(approvalEffect(job.plan_id, plan.now));
          }
          const done = await this.transitionIn(trx, { jobId: job.id, to: "cancelled", set: { outcome: "cancelled", reason: `superseded by plan ${plan.id}` }, reason: `superseded by plan ${plan.id}`, effects, now: plan.now });
          if (done) cancelled.push(job.id);
        }
      }
      await trx
        .insertInto("plans")
        .values({
          id: plan.id,
          source: plan.source,
          group_key: plan.groupKey ?? null,
          repo: plan.repo ?? null,
          workspace: plan.workspace,
          out_dir: plan.outDir ?? null,
          installation_id: plan.installationId ?? null,
          head_sha: plan.headSha ?? null,
          default_ref: plan.defaultRef ?? null,
          created_at: plan.now,
        })
        .execute();
      const state: JobState = plan.approved ? "queued" : "awaiting_approval";
      for (const job of plan.jobs) {
        await trx
          .insertInto("jobs")
          .values({
            id: job.id,
            plan_id: plan.id,
            name: job.name,
            repo: plan.repo ?? null,
            spec: JSON.stringify(job.spec),
            labels: JSON.stringify([...job.labels].sort()),
            priority: job.priority,
            state,
            attempt: 1,
            max_attempts: job.maxAttempts,
            retries_left: job.retries,
            flaky: 0,
            not_before: plan.now,
            reason: plan.approved ? null : (plan.approvalReason ?? null),
            created_at: plan.now,
            queued_at: plan.now,
          })
          .execute();
        await trx.insertInto("transitions").values({ job_id: job.id, attempt: 1, from_state: null, to_state: state, at: plan.now, reason: "submitted" }).execute();
        if (plan.report && plan.approved) {
          await trx
            .insertInto("outbox")
            .values({ job_id: job.id, kind: "report", idempotency_key: `report:${job.id}:1:${state}`, payload: JSON.stringify({ attempt: 1 }), attempts: 0, next_attempt_at: plan.now, created_at: plan.now })
            .execute();
        }
      }
      // However many jobs wait, one check run asks for the approval.
      if (plan.report && !plan.approved && plan.jobs.length > 0) {
        const effect = approvalEffect(plan.id, plan.now);
        await trx
          .insertInto("outbox")
          .values({ job_id: plan.id, kind: effect.kind, idempotency_key: effect.key, payload: JSON.stringify(effect.payload), attempts: 0, next_attempt_at: plan.now, created_at: plan.now, priority: effect.priority ?? 0 })
          .execute();
      }
      return { cancelled, duplicate: false };
    });
  }

  /** One state change, its audit row and the side effects it implies, in one transaction. Null when the guard does not hold. */
  async transition(request: TransitionRequest): Promise<JobRecord | null> {
    return this.db.transaction().execute((trx) => this.transitionIn(trx, request));
  }

  async transitionIn(trx: Transaction<Database>, request: TransitionRequest): Promise<JobRecord | null> {
    let query = trx.selectFrom("jobs").selectAll().where("id", "=", request.jobId);
    if (this.engine === "postgres") query = request.skipLocked ? query.forUpdate().skipLocked() : query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) return null;
    const from = request.from ?? sourcesOf(request.to);
    if (!from.includes(row.state) || !canTransition(row.state, request.to)) return null;
    if (request.attempt !== undefined && row.attempt !== request.attempt) return null;

    const stamps: JobPatch = {};
    if (request.to === "dispatched") stamps.dispatched_at = request.now;
    if (request.to === "running") stamps.started_at = request.now;
    if (request.to === "queued") stamps.queued_at = request.now;
    if (isTerminal(request.to)) {
      stamps.finished_at = request.now;
      stamps.lease_expires = null;
    }
    const updated = await trx
      .updateTable("jobs")
      .set({ ...stamps, ...request.set, state: request.to })
      .where("id", "=", request.jobId)
      .where("state", "=", row.state)
      .returningAll()
      .executeTakeFirst();
    if (!updated) return null;
    await trx
      .insertInto("transitions")
      .values({ job_id: request.jobId, attempt: updated.attempt, from_state: row.state, to_state: request.to, at: request.now, reason: request.reason ?? null })
      .execute();
    for (const effect of request.effects ?? []) {
      const jobId = effect.jobId ?? request.jobId;
      const priority = effect.priority ?? 0;
      // The owner's earlier effects go no later than this one, so ordering by priority keeps each owner's effects in order.
      if (priority > 0) await trx.updateTable("outbox").set({ priority }).where("job_id", "=", jobId).where("delivered_at", "is", null).where("failed_at", "is", null).where("priority", "<", priority).execute();
      await trx
        .insertInto("outbox")
        .values({
          job_id: jobId,
          kind: effect.kind,
          idempotency_key: effect.key,
          payload: JSON.stringify(effect.payload),
          attempts: 0,
          next_attempt_at: request.now,
          created_at: request.now,
          priority,
        })
        .onConflict((oc) => oc.column("idempotency_key").doNothing())
        .execute();
    }
    return toJob(updated);
  }

  /** Extends an active job's lease; false when the job is no longer active at that attempt. */
  async renewLease(jobId: string, attempt: number, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable("jobs")
      .set({ lease_expires: until })
      .where("id", "=", jobId)
      .where("attempt", "=", attempt)
      .where("state", "in", [...ACTIVE_STATES])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async setRunId(jobId: string, attempt: number, runId: string): Promise<void> {
    await this.db.updateTable("jobs").set({ run_id: runId }).where("id", "=", jobId).where("attempt", "=", attempt).execute();
  }

  async job(id: string): Promise<JobRecord | null> {
    const row = await this.db.selectFrom("jobs").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toJob(row) : null;
  }

  async jobs(filter: { planId?: string; states?: readonly JobState[] } = {}): Promise<JobRecord[]> {
    let query = this.db.selectFrom("jobs").selectAll().orderBy("seq");
    if (filter.planId) query = query.where("plan_id", "=", filter.planId);
    if (filter.states) query = query.where("state", "in", [...filter.states]);
    return (await query.execute()).map(toJob);
  }

  /** Queued jobs whose backoff has passed, in dispatch order: priority, then arrival. */
  async dispatchable(now: number, limit = 10_000): Promise<JobRecord[]> {
    const rows = await this.db
      .selectFrom("jobs")
      .selectAll()
      .where("state", "=", "queued")
      .where("not_before", "<=", now)
      .orderBy("priority", "desc")
      .orderBy("seq", "asc")
      .limit(limit)
      .execute();
    return rows.map(toJob);
  }

  /** Repositories (with their installation) that have jobs not yet finished: whose runners matter now. */
  async reposWithOpenWork(): Promise<{ repo: string; installationId: number }[]> {
    const rows = await this.db
      .selectFrom("plans")
      .innerJoin("jobs", "jobs.plan_id", "plans.id")
      .select(["plans.repo", "plans.installation_id"])
      .distinct()
      .where("jobs.state", "not in", [...TERMINAL_STATES])
      .where("plans.repo", "is not", null)
      .where("plans.installation_id", "is not", null)
      .execute();
    return rows.map((r) => ({ repo: r.repo!, installationId: r.installation_id! }));
  }

  /** The last `limit` jobs to finish, newest first. */
  async recentlyFinished(limit: number): Promise<JobRecord[]> {
    const rows = await this.db.selectFrom("jobs").selectAll().where("state", "in", [...TERMINAL_STATES]).orderBy("finished_at", "desc").orderBy("seq", "desc").limit(limit).execute();
    return rows.map(toJob);
  }

  /** 1-based place of a queued job in dispatch order among jobs waiting for the same labels (whose backoff has passed by `now`). */
  async queuePosition(job: Pick<JobRecord, "priority" | "seq" | "labels">, now: number): Promise<number> {
    const row = await this.db
      .selectFrom("jobs")
      .select(sql<number>`count(*)`.as("n"))
      .where("state", "=", "queued")
      .where("not_before", "<=", now)
      // Jobs that wait for other hardware are not ahead of this one.
      .where("labels", "=", JSON.stringify([...job.labels].sort()))
      .where((eb) => eb.or([eb("priority", ">", job.priority), eb.and([eb("priority", "=", job.priority), eb("seq", "<", job.seq)])]))
      .executeTakeFirst();
    return Number(row?.n ?? 0) + 1;
  }

  async countsByState(): Promise<Record<JobState, number>> {
    const rows = await this.db.selectFrom("jobs").select(["state", sql<number>`count(*)`.as("n")]).groupBy("state").execute();
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }

  /** How many jobs each environment holds now. */
  async busyByEnvironment(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom("jobs")
      .select(["env_id", sql<number>`count(*)`.as("n")])
      .where("state", "in", [...ACTIVE_STATES])
      .where("env_id", "is not", null)
      .groupBy("env_id")
      .execute();
    return new Map(rows.map((r) => [r.env_id!, Number(r.n)]));
  }

  /** Adds or refreshes environments, all in one transaction (one sync of a pool, one commit). */
  async upsertEnvironments(envs: readonly EnvironmentRecord[]): Promise<void> {
    if (envs.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const env of envs) {
        const values = { id: env.id, pool: env.pool, labels: JSON.stringify([...env.labels].sort()), capacity: env.capacity, state: env.state, last_seen: env.lastSeen };
        await trx
          .insertInto("environments")
          .values(values)
          .onConflict((oc) => oc.column("id").doUpdateSet({ pool: values.pool, labels: values.labels, capacity: values.capacity, state: values.state, last_seen: values.last_seen }))
          .execute();
      }
    });
  }

  async setEnvironmentState(id: string, state: EnvironmentState, now: number): Promise<void> {
    await this.db.updateTable("environments").set({ state, last_seen: now }).where("id", "=", id).execute();
  }

  async environments(pool?: string): Promise<EnvironmentRecord[]> {
    let query = this.db.selectFrom("environments").selectAll().orderBy("id");
    if (pool) query = query.where("pool", "=", pool);
    return (await query.execute()).map((r) => ({ id: r.id, pool: r.pool, labels: JSON.parse(r.labels) as string[], capacity: r.capacity, state: r.state, lastSeen: r.last_seen }));
  }

  /**
   * Effects due now, highest priority first (effectPriority: what puts hardware to work
   * before what people read), then in the order they were decided. A job's effect waits
   * while an earlier one of the same job waits for its retry, and an earlier one never has
   * a lower priority (transitionIn raises it): a cancel never overtakes its dispatch, and
   * an old report never lands after a newer one.
   */
  async dueOutbox(now: number, limit = 100): Promise<OutboxRecord[]> {
    const rows = await this.db
      .selectFrom("outbox")
      .selectAll()
      // The installation it acts as: its job's plan's, or its plan's (a plan's own effect carries the plan's id).
      .select(sql<number | null>`(select p.installation_id from plans p where p.id = coalesce((select j.plan_id from jobs j where j.id = outbox.job_id), outbox.job_id))`.as("installation_id"))
      .where("delivered_at", "is", null)
      .where("failed_at", "is", null)
      .where("next_attempt_at", "<=", now)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom("outbox as earlier")
              .select("earlier.id")
              .whereRef("earlier.job_id", "=", "outbox.job_id")
              .whereRef("earlier.id", "<", "outbox.id")
              .where("earlier.delivered_at", "is", null)
              .where("earlier.failed_at", "is", null)
              .where("earlier.next_attempt_at", ">", now),
          ),
        ),
      )
      .orderBy("priority", "desc")
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      jobId: r.job_id,
      kind: r.kind,
      key: r.idempotency_key,
      payload: JSON.parse(r.payload),
      attempts: r.attempts,
      nextAttemptAt: r.next_attempt_at,
      priority: r.priority,
      sentAt: r.sent_at,
      createdAt: r.created_at,
      installationId: r.installation_id === null ? null : Number(r.installation_id),
    }));
  }

  /** Check run updates still to land for jobs that have finished: how many, and since when the oldest waits. */
  async finalReportBacklog(): Promise<{ count: number; oldestAt: number | null }> {
    const row = await this.db
      .selectFrom("outbox")
      .innerJoin("jobs", "jobs.id", "outbox.job_id")
      .select([sql<number>`count(*)`.as("n"), sql<number | null>`min(outbox.created_at)`.as("oldest")])
      .where("outbox.kind", "=", "report")
      .where("outbox.delivered_at", "is", null)
      .where("outbox.failed_at", "is", null)
      .where("jobs.state", "in", [...TERMINAL_STATES])
      .executeTakeFirst();
    return { count: Number(row?.n ?? 0), oldestAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest) };
  }

  async outboxPending(): Promise<number> {
    const row = await this.db.selectFrom("outbox").select(sql<number>`count(*)`.as("n")).where("delivered_at", "is", null).where("failed_at", "is", null).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async markDelivered(ids: readonly number[], now: number): Promise<void> {
    await this.db.updateTable("outbox").set({ delivered_at: now }).where("id", "in", [...ids]).execute();
  }

  /** Recorded before an effect that must not happen twice is sent: a redelivery then checks first. */
  async markSending(id: number, now: number): Promise<void> {
    await this.db
      .updateTable("outbox")
      .set((eb) => ({ sent_at: eb.fn.coalesce("sent_at", eb.val(now)), last_error: `sent at ${new Date(now).toISOString()}, outcome not recorded` }))
      .where("id", "=", id)
      .execute();
  }

  /**
   * Tries the effect again at `nextAttemptAt`. A deferral (GitHub asked to wait) is not an
   * attempt; `notSent` says this try certainly did not reach the far side, and no earlier
   * one did either.
   */
  async markRetry(id: number, nextAttemptAt: number, error: string, options: { attempt?: boolean; notSent?: boolean } = {}): Promise<void> {
    const attempt = options.attempt ?? true;
    await this.db
      .updateTable("outbox")
      .set((eb) => ({ attempts: attempt ? eb("attempts", "+", 1) : eb.ref("attempts"), next_attempt_at: nextAttemptAt, last_error: error, ...(options.notSent ? { sent_at: null } : {}) }))
      .where("id", "=", id)
      .execute();
  }

  async markFailed(id: number, now: number, error: string): Promise<void> {
    await this.db.updateTable("outbox").set({ failed_at: now, last_error: error }).where("id", "=", id).execute();
  }

  async transitions(jobId?: string): Promise<{ jobId: string; attempt: number; from: JobState | null; to: JobState; at: number; reason: string | null }[]> {
    let query = this.db.selectFrom("transitions").selectAll().orderBy("id");
    if (jobId) query = query.where("job_id", "=", jobId);
    return (await query.execute()).map((r) => ({ jobId: r.job_id, attempt: r.attempt, from: r.from_state, to: r.to_state, at: r.at, reason: r.reason }));
  }

  /**
   * Takes or renews a named lease-lock: held by one owner until it expires. Works the same
   * on both engines; a replica that dies stops renewing and another takes over.
   */
  async acquireLock(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.insertInto("locks").values({ name, owner, expires_at: now + ttlMs }).onConflict((oc) => oc.column("name").doNothing()).execute();
      const result = await trx
        .updateTable("locks")
        .set({ owner, expires_at: now + ttlMs })
        .where("name", "=", name)
        .where((eb) => eb.or([eb("owner", "=", owner), eb("expires_at", "<", now)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    });
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    await this.db.deleteFrom("locks").where("name", "=", name).where("owner", "=", owner).execute();
  }

  /** Deletes plans whose every job finished before `before`; running plans are never touched. */
  async pruneFinishedPlans(before: number): Promise<string[]> {
    return this.db.transaction().execute(async (trx: Db) => {
      const candidates = await trx
        .selectFrom("plans")
        .select("id")
        .where("created_at", "<", before)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom("jobs")
                .select("jobs.id")
                .whereRef("jobs.plan_id", "=", "plans.id")
                .where((eb) => eb.or([eb("jobs.finished_at", "is", null), eb("jobs.finished_at", ">=", before)])),
            ),
          ),
        )
        .execute();
      const ids = candidates.map((c) => c.id);
      if (ids.length === 0) return [];
      const jobIds = (await trx.selectFrom("jobs").select("id").where("plan_id", "in", ids).execute()).map((j) => j.id);
      if (jobIds.length) {
        await trx.deleteFrom("transitions").where("job_id", "in", jobIds).execute();
        await trx.deleteFrom("jobs").where("id", "in", jobIds).execute();
      }
      // A plan's own effects (its approval check run) carry its id.
      await trx.deleteFrom("outbox").where("job_id", "in", [...jobIds, ...ids]).execute();
      await trx.deleteFrom("plans").where("id", "in", ids).execute();
      return ids;
    });
  }

  async plan(id: string): Promise<PlanRecord | null> {
    const row = await this.db.selectFrom("plans").selectAll().where("id", "=", id).executeTakeFirst();
    return row
      ? {
          id: row.id,
          source: row.source,
          workspace: row.workspace,
          outDir: row.out_dir,
          repo: row.repo,
          groupKey: row.group_key,
          installationId: row.installation_id === null ? null : Number(row.installation_id),
          headSha: row.head_sha,
          defaultRef: row.default_ref,
          createdAt: row.created_at,
          approvalCheckRunId: row.approval_check_run_id === null ? null : Number(row.approval_check_run_id),
        }
      : null;
  }

  /** The group's newest plan: for a pull request, the last push kto planned. */
  async latestPlan(groupKey: string): Promise<PlanRecord | null> {
    const row = await this.db.selectFrom("plans").select("id").where("group_key", "=", groupKey).orderBy("created_at", "desc").orderBy("id", "desc").limit(1).executeTakeFirst();
    return row ? this.plan(row.id) : null;
  }

  async setCheckRunId(jobId: string, checkRunId: number): Promise<void> {
    await this.db.updateTable("jobs").set({ check_run_id: checkRunId }).where("id", "=", jobId).execute();
  }

  async setApprovalCheckRunId(planId: string, checkRunId: number): Promise<void> {
    await this.db.updateTable("plans").set({ approval_check_run_id: checkRunId }).where("id", "=", planId).execute();
  }

  /** True the first time a webhook delivery id is recorded: a redelivery changes nothing. */
  async recordDelivery(id: string, now: number): Promise<boolean> {
    const result = await this.db.insertInto("deliveries").values({ id, at: now }).onConflict((oc) => oc.column("id").doNothing()).executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Whether a webhook delivery was handled to the end (or made its plan). */
  async deliverySeen(id: string): Promise<boolean> {
    return (await this.db.selectFrom("deliveries").select("id").where("id", "=", id).executeTakeFirst()) !== undefined;
  }

  async planIds(): Promise<string[]> {
    return (await this.db.selectFrom("plans").select("id").orderBy("created_at").orderBy("id").execute()).map((p) => p.id);
  }
}
