import { sql, type Kysely, type Selectable } from "kysely";
import type { BisectionsTable, Database } from "./schema.js";

export type BisectionStatus = "running" | "found" | "inconclusive" | "cancelled";

/** A bisection as stored. Its commits, tests and state stay JSON text here: the App reads them through its own schema. */
export interface BisectionRecord {
  id: string;
  repo: string;
  installationId: number;
  jobKey: string;
  suite: string;
  goodSha: string;
  badSha: string;
  tests: string;
  commits: string;
  state: string;
  status: BisectionStatus;
  startedBy: string;
  checkRunId: number | null;
  createdAt: number;
}

export type NewBisection = Omit<BisectionRecord, "checkRunId">;

function recordOf(row: Selectable<BisectionsTable>): BisectionRecord {
  return {
    id: row.id,
    repo: row.repo,
    installationId: Number(row.installation_id),
    jobKey: row.job_key,
    suite: row.suite,
    goodSha: row.good_sha,
    badSha: row.bad_sha,
    tests: row.tests,
    commits: row.commits,
    state: row.state,
    status: row.status as BisectionStatus,
    startedBy: row.started_by,
    checkRunId: row.check_run_id === null ? null : Number(row.check_run_id),
    createdAt: Number(row.created_at),
  };
}

/**
 * Bisections asked for from GitHub. One per repository, job and last good commit, besides
 * those cancelled: asking again finds the one there, or starts anew after a cancel. A step
 * moves the state only from the state it read, so a report seen twice (or by two replicas)
 * advances it once, and a cancel and a step's end never both take.
 */
export class BisectionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The new bisection, or the one already asked for of the same range; `created` says which. */
  async create(bisection: NewBisection): Promise<{ record: BisectionRecord; created: boolean }> {
    const inserted = await this.db
      .insertInto("bisections")
      .values({
        id: bisection.id,
        repo: bisection.repo,
        installation_id: bisection.installationId,
        job_key: bisection.jobKey,
        suite: bisection.suite,
        good_sha: bisection.goodSha,
        bad_sha: bisection.badSha,
        tests: bisection.tests,
        commits: bisection.commits,
        state: bisection.state,
        status: bisection.status,
        started_by: bisection.startedBy,
        check_run_id: null,
        created_at: bisection.createdAt,
      })
      // The range's index holds only bisections not cancelled (migration 018).
      .onConflict((oc) =>
        oc
          .columns(["repo", "job_key", "good_sha"])
          .where(sql<boolean>`status <> 'cancelled'`)
          .doNothing(),
      )
      .executeTakeFirst();
    const created = Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1;
    if (created) return { record: (await this.bisection(bisection.id))!, created };
    // The one in the way, or (cancelled since) the range's newest.
    const row = await this.db
      .selectFrom("bisections")
      .selectAll()
      .where("repo", "=", bisection.repo)
      .where("job_key", "=", bisection.jobKey)
      .where("good_sha", "=", bisection.goodSha)
      .orderBy(sql`case when status = 'cancelled' then 1 else 0 end`)
      .orderBy("created_at", "desc")
      .executeTakeFirstOrThrow();
    return { record: recordOf(row), created };
  }

  /** A job's bisections that a stop may still concern (running, or cancelled), newest first, at most `limit`. */
  async stoppable(repo: string, jobKey: string, limit: number): Promise<BisectionRecord[]> {
    const rows = await this.db
      .selectFrom("bisections")
      .selectAll()
      .where("repo", "=", repo)
      .where("job_key", "=", jobKey)
      .where("status", "in", ["running", "cancelled"])
      .orderBy("created_at", "desc")
      .orderBy("id")
      .limit(limit)
      .execute();
    return rows.map(recordOf);
  }

  async bisection(id: string): Promise<BisectionRecord | null> {
    const row = await this.db.selectFrom("bisections").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? recordOf(row) : null;
  }

  /** The repository's newest bisections, newest first, at most `limit`. */
  async recent(repo: string, limit: number): Promise<BisectionRecord[]> {
    const rows = await this.db.selectFrom("bisections").selectAll().where("repo", "=", repo).orderBy("created_at", "desc").orderBy("id").limit(limit).execute();
    return rows.map(recordOf);
  }

  /** Moves a bisection on from `from` (its state as read); false when another report moved it first. */
  async advance(id: string, from: string, to: { state: string; status: BisectionStatus }): Promise<boolean> {
    const updated = await this.db
      .updateTable("bisections")
      .set({ state: to.state, status: to.status })
      .where("id", "=", id)
      .where("state", "=", from)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  async setCheckRunId(id: string, checkRunId: number): Promise<void> {
    await this.db.updateTable("bisections").set({ check_run_id: checkRunId }).where("id", "=", id).execute();
  }
}
