import { sql, type Kysely } from "kysely";
import { TERMINAL_STATES } from "../job-state.js";
import type { OutboxRecord } from "./records.js";
import type { Database } from "./schema.js";

/** The outbox: side effects decided with a transition, sent (and retried) after it committed. */
export class OutboxRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Effects due now, highest priority first (effectPriority: what puts hardware to work
   * before what people read), then in the order they were decided. A job's effect waits
   * while an earlier one of the same job waits for its retry, and an earlier one never has
   * a lower priority (a transition raises it): a cancel never overtakes its dispatch, and
   * an old report never lands after a newer one.
   */
  async dueOutbox(now: number, limit = 100): Promise<OutboxRecord[]> {
    const rows = await this.db
      .selectFrom("outbox")
      .selectAll()
      // The installation it acts as: its job's plan's, or its plan's (a plan's own effect carries the plan's id).
      .select(
        sql<
          number | null
        >`(select p.installation_id from plans p where p.id = coalesce((select j.plan_id from jobs j where j.id = outbox.job_id), outbox.job_id))`.as(
          "installation_id",
        ),
      )
      .where("done_at", "is", null)
      .where("failed_at", "is", null)
      .where("next_attempt_at", "<=", now)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom("outbox as earlier")
              .select("earlier.id")
              .whereRef("earlier.job_id", "=", "outbox.job_id")
              .whereRef("earlier.id", "<", "outbox.id")
              .where("earlier.done_at", "is", null)
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
      lastError: r.last_error,
      limitDeferrals: Number(r.limit_deferrals),
    }));
  }

  /** Check run updates still to land for jobs that have finished: how many, and since when the oldest waits. */
  async finalReportBacklog(): Promise<{ count: number; oldestAt: number | null }> {
    const row = await this.db
      .selectFrom("outbox")
      .innerJoin("jobs", "jobs.id", "outbox.job_id")
      .select([sql<number>`count(*)`.as("n"), sql<number | null>`min(outbox.created_at)`.as("oldest")])
      .where("outbox.kind", "=", "publish")
      .where("outbox.done_at", "is", null)
      .where("outbox.failed_at", "is", null)
      .where("jobs.state", "in", [...TERMINAL_STATES])
      .executeTakeFirst();
    return { count: Number(row?.n ?? 0), oldestAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest) };
  }

  async outboxPending(): Promise<number> {
    const row = await this.db
      .selectFrom("outbox")
      .select(sql<number>`count(*)`.as("n"))
      .where("done_at", "is", null)
      .where("failed_at", "is", null)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async markDone(ids: readonly number[], now: number): Promise<void> {
    await this.db
      .updateTable("outbox")
      .set({ done_at: now })
      .where("id", "in", [...ids])
      .execute();
  }

  /** Recorded before an effect that must not happen twice is sent: a second try then checks first. */
  async markSending(id: number, now: number): Promise<void> {
    await this.db
      .updateTable("outbox")
      .set((eb) => ({ sent_at: eb.fn.coalesce("sent_at", eb.val(now)) }))
      .where("id", "=", id)
      .execute();
  }

  /**
   * Tries the effect again at `nextAttemptAt`. A deferral (GitHub asked to wait) is not an
   * attempt; `notSent` says this try certainly did not reach the far side, and no earlier
   * one did either; `limitDeferral` counts a put-off GitHub asked for.
   */
  async markRetry(
    id: number,
    nextAttemptAt: number,
    error: string,
    options: { attempt?: boolean; notSent?: boolean; limitDeferral?: boolean } = {},
  ): Promise<void> {
    const attempt = options.attempt ?? true;
    await this.db
      .updateTable("outbox")
      .set((eb) => ({
        attempts: attempt ? eb("attempts", "+", 1) : eb.ref("attempts"),
        next_attempt_at: nextAttemptAt,
        last_error: error,
        ...(options.notSent ? { sent_at: null } : {}),
        ...(options.limitDeferral ? { limit_deferrals: eb("limit_deferrals", "+", 1) } : {}),
      }))
      .where("id", "=", id)
      .execute();
  }

  async markFailed(id: number, now: number, error: string): Promise<void> {
    await this.db.updateTable("outbox").set({ failed_at: now, last_error: error }).where("id", "=", id).execute();
  }
}
