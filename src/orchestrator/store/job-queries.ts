import { sql, type Kysely } from "kysely";
import { ACTIVE_STATES, JOB_STATES, TERMINAL_STATES, type JobState } from "../job-state.js";
import { toJob, type JobRecord } from "./records.js";
import type { Database } from "./schema.js";

/**
 * Queued jobs that fit exactly the same runners: the same labels (a stored, sorted
 * label set) from the same repository.
 */
export interface QueueLane {
  labels: string;
  repo: string | null;
  repoPrivate: boolean | null;
}

export interface TransitionEntry {
  jobId: string;
  attempt: number;
  from: JobState | null;
  to: JobState;
  at: number;
  reason: string | null;
}

/** Reads of jobs, and the few writes that change no state (leases, run and check run ids). */
export class JobQueries {
  constructor(private readonly db: Kysely<Database>) {}

  async job(id: string): Promise<JobRecord | null> {
    const row = await this.db.selectFrom("jobs").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toJob(row) : null;
  }

  async list(filter: { planId?: string; states?: readonly JobState[] } = {}): Promise<JobRecord[]> {
    let query = this.db.selectFrom("jobs").selectAll().orderBy("seq");
    if (filter.planId) query = query.where("plan_id", "=", filter.planId);
    if (filter.states) query = query.where("state", "in", [...filter.states]);
    return (await query.execute()).map(toJob);
  }

  /** Queued jobs whose backoff has passed, in dispatch order: priority, then arrival. */
  async dispatchable(now: number, limit = 10_000): Promise<JobRecord[]> {
    return (await this.inDispatchOrder(now).limit(limit).execute()).map(toJob);
  }

  /** Queued jobs whose backoff has passed, highest priority first, then by arrival (the queue index's order). */
  private inDispatchOrder(now: number) {
    return this.db
      .selectFrom("jobs")
      .selectAll()
      .where("state", "=", "queued")
      .where("not_before", "<=", now)
      .orderBy("priority", "desc")
      .orderBy("seq", "asc");
  }

  /** Each lane of the queue that has queued jobs, read from the queue index alone. */
  async queuedLanes(): Promise<QueueLane[]> {
    const rows = await this.db.selectFrom("jobs").select(["labels", "repo", "repo_private"]).distinct().where("state", "=", "queued").execute();
    return rows.map((r) => ({ labels: r.labels, repo: r.repo, repoPrivate: r.repo_private === null ? null : r.repo_private === 1 }));
  }

  /** The first `limit` dispatchable jobs of a lane, in dispatch order. */
  async dispatchableWith(lane: QueueLane, now: number, limit: number): Promise<JobRecord[]> {
    const rows = await this.inDispatchOrder(now)
      .where("labels", "=", lane.labels)
      .where("repo", lane.repo === null ? "is" : "=", lane.repo)
      .where("repo_private", lane.repoPrivate === null ? "is" : "=", lane.repoPrivate === null ? null : Number(lane.repoPrivate))
      .limit(limit)
      .execute();
    return rows.map(toJob);
  }

  /** The jobs whose latest attempt ran as `runId`, finished or not. */
  async jobsOfRun(runId: string): Promise<JobRecord[]> {
    const rows = await this.db.selectFrom("jobs").selectAll().where("run_id", "=", runId).execute();
    return rows.map(toJob);
  }

  /** A repository's jobs not yet finished, with their plan's group: one query, whatever the number of plans. */
  async unfinishedJobsOf(repo: string): Promise<(JobRecord & { plan: { groupKey: string | null; headSha: string | null } })[]> {
    const rows = await this.db
      .selectFrom("jobs")
      .innerJoin("plans", "plans.id", "jobs.plan_id")
      .selectAll("jobs")
      .select(["plans.group_key", "plans.head_sha"])
      .where("jobs.repo", "=", repo)
      .where("jobs.state", "not in", [...TERMINAL_STATES])
      .orderBy("jobs.seq")
      .execute();
    return rows.map((row) => ({ ...toJob(row), plan: { groupKey: row.group_key, headSha: row.head_sha } }));
  }

  /** Active jobs whose deadline or lease has passed: what a pass gives back before it assigns. */
  async expired(now: number): Promise<JobRecord[]> {
    const rows = await this.db
      .selectFrom("jobs")
      .selectAll()
      .where("state", "in", [...ACTIVE_STATES])
      .where((eb) => eb.or([eb("deadline", "<=", now), eb("lease_expires", "<=", now)]))
      .orderBy("seq")
      .execute();
    return rows.map(toJob);
  }

  /** How many active jobs each repository holds. */
  async activeByRepo(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom("jobs")
      .select(["repo", sql<number>`count(*)`.as("n")])
      .where("state", "in", [...ACTIVE_STATES])
      .where("repo", "is not", null)
      .groupBy("repo")
      .execute();
    return new Map(rows.map((r) => [r.repo!, Number(r.n)]));
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
    const rows = await this.db
      .selectFrom("jobs")
      .selectAll()
      .where("state", "in", [...TERMINAL_STATES])
      .orderBy("finished_at", "desc")
      .orderBy("seq", "desc")
      .limit(limit)
      .execute();
    return rows.map(toJob);
  }

  /** Jobs queued by `until` and not finished before `since`, newest first, at most `limit`: what a window of time saw. */
  async activeBetween(since: number, until: number, limit: number): Promise<JobRecord[]> {
    const rows = await this.db
      .selectFrom("jobs")
      .selectAll()
      .where("queued_at", "<=", until)
      .where((eb) => eb.or([eb("finished_at", "is", null), eb("finished_at", ">=", since)]))
      .orderBy("seq", "desc")
      .limit(limit)
      .execute();
    return rows.map(toJob);
  }

  /** 1-based place of a queued job in dispatch order among jobs waiting for the same labels (whose backoff has passed by `now`). */
  async queuePosition(job: Pick<JobRecord, "priority" | "seq" | "labels">, now: number): Promise<number> {
    const row = await this.db
      .selectFrom("jobs")
      .select(sql<number>`count(*)`.as("n"))
      .where("state", "=", "queued")
      // Jobs that wait for other hardware are not ahead of this one.
      .where("labels", "=", JSON.stringify([...job.labels].sort()))
      .where("not_before", "<=", now)
      .where((eb) => eb.or([eb("priority", ">", job.priority), eb.and([eb("priority", "=", job.priority), eb("seq", "<", job.seq)])]))
      .executeTakeFirst();
    return Number(row?.n ?? 0) + 1;
  }

  async countsByState(): Promise<Record<JobState, number>> {
    const rows = await this.db
      .selectFrom("jobs")
      .select(["state", sql<number>`count(*)`.as("n")])
      .groupBy("state")
      .execute();
    const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const row of rows) counts[row.state] = Number(row.n);
    return counts;
  }

  /** Per label set (as stored), how many jobs are queued and how many active. */
  async depthByLabels(): Promise<{ labels: string; queued: number; active: number }[]> {
    const rows = await this.db
      .selectFrom("jobs")
      .select(["labels", "state", sql<number>`count(*)`.as("n")])
      .where("state", "in", ["queued", ...ACTIVE_STATES])
      .groupBy(["labels", "state"])
      .execute();
    const byLabels = new Map<string, { labels: string; queued: number; active: number }>();
    for (const row of rows) {
      const entry = byLabels.get(row.labels) ?? { labels: row.labels, queued: 0, active: 0 };
      if (row.state === "queued") entry.queued += Number(row.n);
      else entry.active += Number(row.n);
      byLabels.set(row.labels, entry);
    }
    return [...byLabels.values()];
  }

  /** How long jobs took from one stamp to another, as cumulative bucket counts with their count and sum (jobs with both stamps). */
  async durationHistogram(
    from: "queued_at" | "dispatched_at" | "started_at",
    to: "dispatched_at" | "started_at" | "finished_at",
    bucketsMs: readonly number[],
  ): Promise<{ buckets: { le: number; count: number }[]; count: number; sum: number }> {
    const span = sql<number>`${sql.ref(to)} - ${sql.ref(from)}`;
    const row = await this.db
      .selectFrom("jobs")
      .select([
        sql<number>`count(*)`.as("n"),
        sql<number>`coalesce(sum(${span}), 0)`.as("total"),
        ...bucketsMs.map((le, i) => sql<number>`sum(case when ${span} <= ${le} then 1 else 0 end)`.as(`b${i}`)),
      ])
      .where(from, "is not", null)
      .where(to, "is not", null)
      .executeTakeFirstOrThrow();
    const values = row as unknown as Record<string, number | string | null>;
    return { buckets: bucketsMs.map((le, i) => ({ le, count: Number(values[`b${i}`] ?? 0) })), count: Number(row.n), sum: Number(row.total) };
  }

  /** The runner each of `jobIds` last ran on, where it ran anywhere. */
  async runnersOf(jobIds: readonly string[]): Promise<Map<string, string>> {
    if (jobIds.length === 0) return new Map();
    const rows = await this.db
      .selectFrom("jobs")
      .select(["id", "runner_id"])
      .where("id", "in", [...jobIds])
      .where("runner_id", "is not", null)
      .execute();
    return new Map(rows.map((r) => [r.id, r.runner_id!]));
  }

  /** How many jobs each runner holds now. */
  async busyByRunner(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom("jobs")
      .select(["runner_id", sql<number>`count(*)`.as("n")])
      .where("state", "in", [...ACTIVE_STATES])
      .where("runner_id", "is not", null)
      .groupBy("runner_id")
      .execute();
    return new Map(rows.map((r) => [r.runner_id!, Number(r.n)]));
  }

  async transitions(jobId?: string): Promise<TransitionEntry[]> {
    let query = this.db.selectFrom("transitions").selectAll().orderBy("id");
    if (jobId) query = query.where("job_id", "=", jobId);
    return (await query.execute()).map((r) => ({ jobId: r.job_id, attempt: r.attempt, from: r.from_state, to: r.to_state, at: r.at, reason: r.reason }));
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

  /** The run of a batch, for its jobs still leased in it whose run was not known yet. */
  async setBatchRunId(batchKey: string, runId: string): Promise<void> {
    await this.db
      .updateTable("jobs")
      .set({ run_id: runId })
      .where("batch_key", "=", batchKey)
      .where("run_id", "is", null)
      .where("state", "in", [...ACTIVE_STATES])
      .execute();
  }

  /** The jobs whose latest attempt went out in the batch `batchKey`. */
  async jobsOfBatch(batchKey: string): Promise<JobRecord[]> {
    const rows = await this.db.selectFrom("jobs").selectAll().where("batch_key", "=", batchKey).execute();
    return rows.map(toJob);
  }

  /** Recorded before the create is sent; `null` takes it back when that create certainly did not go out. */
  async markCheckRunRequested(jobId: string, now: number | null): Promise<void> {
    await this.db.updateTable("jobs").set({ check_run_requested_at: now }).where("id", "=", jobId).execute();
  }

  async setCheckRunId(jobId: string, checkRunId: number): Promise<void> {
    await this.db.updateTable("jobs").set({ check_run_id: checkRunId }).where("id", "=", jobId).execute();
  }
}
