import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";

export type Engine = "sqlite" | "postgres";

interface Migration {
  name: string;
  up(db: Kysely<Database>, engine: Engine): Promise<void>;
}

/** Append only: a released migration is never edited, a new one is added. */
export const MIGRATIONS: Migration[] = [
  {
    name: "001-initial",
    async up(db, engine) {
      const serial = engine === "postgres" ? "bigserial" : "integer";
      const big = engine === "postgres" ? "bigint" : "integer";
      const autoKey = <T extends { primaryKey(): T; autoIncrement(): T }>(c: T) => (engine === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement());

      await db.schema
        .createTable("plans")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("source", "text", (c) => c.notNull())
        .addColumn("group_key", "text")
        .addColumn("repo", "text")
        .addColumn("workspace", "text", (c) => c.notNull())
        .addColumn("out_dir", "text")
        .addColumn("created_at", big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("jobs")
        .addColumn("seq", serial, autoKey)
        .addColumn("id", "text", (c) => c.notNull().unique())
        .addColumn("plan_id", "text", (c) => c.notNull().references("plans.id").onDelete("cascade"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("repo", "text")
        .addColumn("spec", "text", (c) => c.notNull())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("priority", "integer", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("max_attempts", "integer", (c) => c.notNull())
        .addColumn("retries_left", "integer", (c) => c.notNull())
        .addColumn("flaky", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("not_before", big, (c) => c.notNull())
        .addColumn("env_id", "text")
        .addColumn("lease_expires", big)
        .addColumn("deadline", big)
        .addColumn("run_id", "text")
        .addColumn("outcome", "text")
        .addColumn("reason", "text")
        .addColumn("result", "text")
        .addColumn("created_at", big, (c) => c.notNull())
        .addColumn("queued_at", big, (c) => c.notNull())
        .addColumn("dispatched_at", big)
        .addColumn("started_at", big)
        .addColumn("finished_at", big)
        .execute();
      await db.schema.createIndex("jobs_state_priority").on("jobs").columns(["state", "priority", "seq"]).execute();
      await db.schema.createIndex("jobs_plan").on("jobs").column("plan_id").execute();
      await db.schema.createIndex("jobs_env").on("jobs").columns(["env_id", "state"]).execute();

      await db.schema
        .createTable("environments")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("pool", "text", (c) => c.notNull())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("capacity", "integer", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("last_seen", big, (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("outbox")
        .addColumn("id", serial, autoKey)
        .addColumn("job_id", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("idempotency_key", "text", (c) => c.notNull().unique())
        .addColumn("payload", "text", (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("next_attempt_at", big, (c) => c.notNull())
        .addColumn("delivered_at", big)
        .addColumn("failed_at", big)
        .addColumn("last_error", "text")
        .addColumn("created_at", big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex("outbox_due").on("outbox").columns(["delivered_at", "failed_at", "next_attempt_at"]).execute();

      await db.schema
        .createTable("transitions")
        .addColumn("id", serial, autoKey)
        .addColumn("job_id", "text", (c) => c.notNull())
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("from_state", "text")
        .addColumn("to_state", "text", (c) => c.notNull())
        .addColumn("at", big, (c) => c.notNull())
        .addColumn("reason", "text")
        .execute();
      await db.schema.createIndex("transitions_job").on("transitions").column("job_id").execute();

      await db.schema
        .createTable("locks")
        .addColumn("name", "text", (c) => c.primaryKey())
        .addColumn("owner", "text", (c) => c.notNull())
        .addColumn("expires_at", big, (c) => c.notNull())
        .execute();
    },
  },
  {
    name: "002-github",
    async up(db, engine) {
      const big = engine === "postgres" ? "bigint" : "integer";
      await db.schema.alterTable("plans").addColumn("installation_id", big).execute();
      await db.schema.alterTable("plans").addColumn("head_sha", "text").execute();
      await db.schema.alterTable("plans").addColumn("default_ref", "text").execute();
      await db.schema.alterTable("jobs").addColumn("check_run_id", big).execute();
      await db.schema
        .createTable("deliveries")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("at", big, (c) => c.notNull())
        .execute();
    },
  },
  {
    name: "003-outbox-by-job",
    async up(db) {
      // dueOutbox looks for a job's earlier, undelivered effects to keep them in order.
      await db.schema.createIndex("outbox_job").on("outbox").columns(["job_id", "id"]).execute();
    },
  },
  {
    name: "004-outbox-priority",
    async up(db, engine) {
      const big = engine === "postgres" ? "bigint" : "integer";
      // Effects that put hardware to work (dispatch, cancel) go before check-run updates.
      await db.schema
        .alterTable("outbox")
        .addColumn("priority", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      // When a try of the effect may first have reached GitHub: a dispatch looks for its run that long.
      await db.schema.alterTable("outbox").addColumn("sent_at", big).execute();
      await db.schema.createIndex("outbox_due_priority").on("outbox").columns(["delivered_at", "failed_at", "priority", "id"]).execute();
      // A plan waiting for approval shows as one check run, not one per job.
      await db.schema.alterTable("plans").addColumn("approval_check_run_id", big).execute();
    },
  },
  {
    name: "005-queue-order",
    async up(db) {
      // A scheduling pass reads, per label set, only the head of the queue, in dispatch order.
      await db.schema.createIndex("jobs_queue").on("jobs").columns(["state", "labels", "priority desc", "seq"]).execute();
      // Attempts whose tests failed and were retried: a later pass is flaky (no reason string to match).
      await db.schema
        .alterTable("jobs")
        .addColumn("failed_attempts", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      // A run's jobs, and a repository's unfinished jobs, by index.
      await db.schema.createIndex("jobs_run").on("jobs").column("run_id").execute();
      await db.schema.createIndex("jobs_repo_state").on("jobs").columns(["repo", "state"]).execute();
      // Which process owns an environment is a column, not a suffix of its id.
      await db.schema.alterTable("environments").addColumn("owner", "text").execute();
      await sql`update environments set owner = substr(id, 7) where id like 'local@%'`.execute(db);
      // A run id not known yet is null, no longer a "pending:" string.
      await sql`update jobs set run_id = null where run_id like 'pending:%'`.execute(db);
      await sql`update jobs set failed_attempts = (select count(*) from transitions t where t.job_id = jobs.id and t.reason like 'test failure, retrying%')`.execute(
        db,
      );
    },
  },
  {
    name: "006-check-run-requests",
    async up(db, engine) {
      // A check run's create that was sent, so that one GitHub made with its answer lost is
      // looked up rather than made again, whichever try or process sends next.
      const big = engine === "postgres" ? "bigint" : "integer";
      await db.schema.alterTable("jobs").addColumn("check_run_requested_at", big).execute();
      await db.schema.alterTable("plans").addColumn("approval_check_run_requested_at", big).execute();
    },
  },
  {
    name: "007-plan-trust",
    async up(db) {
      // What the trust gate decided for a plan, so that a re-run of it is gated as the plan
      // was; a plan from before is taken as untrusted, and only a writer's re-run runs it.
      await db.schema
        .alterTable("plans")
        .addColumn("trusted", "integer", (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable("plans").addColumn("gate_reason", "text").execute();
      // A check suite's re-run finds the plans kto made of its commit.
      await db.schema.createIndex("plans_repo_head").on("plans").columns(["repo", "head_sha"]).execute();
    },
  },
  {
    name: "008-lease-scopes",
    async up(db) {
      // Whether a job's repository is private: a runner group may keep public repositories out.
      // Jobs from before are not known, and count as public.
      await db.schema.alterTable("jobs").addColumn("repo_private", "integer").execute();
      // Which repositories' jobs an environment may take. Every pool lists its environments,
      // with their scopes, before a pass leases anything (start syncs first): until then an
      // environment from before has the scope that takes no job. Written out, not imported,
      // so that this migration stays as it was released.
      await db.schema
        .alterTable("environments")
        .addColumn("scope", "text", (c) => c.notNull().defaultTo('{"kind":"none"}'))
        .execute();
      // A pass reads the head of each lane: queued jobs of one label set and one repository.
      await db.schema.createIndex("jobs_queue_lane").on("jobs").columns(["state", "labels", "repo", "repo_private", "priority desc", "seq"]).execute();
    },
  },
  {
    name: "009-one-vocabulary",
    async up(db) {
      // One word per concept: the places jobs run are runners, as everywhere else in kto, and
      // the effect that shows a job where people look publishes it.
      await db.schema.alterTable("environments").renameTo("runners").execute();
      await db.schema.alterTable("jobs").renameColumn("env_id", "runner_id").execute();
      await db.schema.alterTable("outbox").renameColumn("delivered_at", "done_at").execute();
      await sql`update outbox set kind = 'publish' where kind = 'report'`.execute(db);
      // Dispatches and cancels not yet sent name the runner in their payload (JSON text).
      await sql`update outbox set payload = replace(payload, '"envId":', '"runnerId":') where kind in ('dispatch', 'cancel')`.execute(db);
    },
  },
  {
    name: "010-build-dependencies",
    async up(db) {
      // A job that boots a kernel build waits for that build's job: when the build ends, its
      // waiting dependents are found by this index and released or skipped in its transaction.
      await db.schema.alterTable("jobs").addColumn("needs_job_id", "text").execute();
      await db.schema.createIndex("jobs_needs").on("jobs").columns(["needs_job_id", "state"]).execute();
    },
  },
  {
    name: "011-github-budget",
    async up(db, engine) {
      const big = engine === "postgres" ? "bigint" : "integer";
      const serial = engine === "postgres" ? "bigserial" : "integer";
      const autoKey = <T extends { primaryKey(): T; autoIncrement(): T }>(c: T) => (engine === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement());
      // GitHub's limits as every replica sees them: one row per installation (and one, id 0,
      // for the App's own calls), locked by each admission so two replicas cannot both take
      // the last unit of its budget; a pause GitHub asked for, and how many in a row.
      await db.schema
        .createTable("github_standing")
        .addColumn("installation_id", big, (c) => c.primaryKey())
        .addColumn("paused_until", big, (c) => c.notNull().defaultTo(0))
        .addColumn("paused_by", "text")
        .addColumn("secondary_strikes", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("secondary_until", big, (c) => c.notNull().defaultTo(0))
        .execute();
      // What each request spent, for the sliding minute and hour; pruned as they pass.
      await db.schema
        .createTable("github_spends")
        .addColumn("id", serial, autoKey)
        .addColumn("installation_id", big, (c) => c.notNull())
        .addColumn("at", big, (c) => c.notNull())
        .addColumn("points", "integer", (c) => c.notNull())
        .addColumn("creates_content", "integer", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("github_spends_window").on("github_spends").columns(["installation_id", "at"]).execute();
    },
  },
  {
    name: "012-dispatch-batches",
    async up(db) {
      // The jobs leased in one scheduling pass for one repository go out as one dispatch: a
      // job's attempt names its batch, whose run it reports from and whose run-name finds it.
      await db.schema.alterTable("jobs").addColumn("batch_key", "text").execute();
      await db.schema.createIndex("jobs_batch").on("jobs").column("batch_key").execute();
    },
  },
  {
    name: "013-approval",
    async up(db, engine) {
      // GitHub never changes a completed check run's conclusion, so a hold that ends is told by
      // a second "kto / approval" check run, newer than the one that held: its id, and when
      // its create was sent, so that one whose answer was lost is looked up, not made twice.
      const big = engine === "postgres" ? "bigint" : "integer";
      await db.schema.alterTable("plans").addColumn("approval_end_check_run_id", big).execute();
      await db.schema.alterTable("plans").addColumn("approval_end_check_run_requested_at", big).execute();
    },
  },
  {
    name: "014-result-history",
    async up(db, engine) {
      const big = engine === "postgres" ? "bigint" : "integer";
      const serial = engine === "postgres" ? "bigserial" : "integer";
      const autoKey = <T extends { primaryKey(): T; autoIncrement(): T }>(c: T) => (engine === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement());
      // Every finished attempt's results, kept across commits: what a later run is compared
      // with. One row per attempt (a report sent twice records once), its cases beside it.
      await db.schema
        .createTable("result_runs")
        .addColumn("id", serial, autoKey)
        .addColumn("repo", "text", (c) => c.notNull())
        .addColumn("sha", "text", (c) => c.notNull())
        .addColumn("job_key", "text", (c) => c.notNull())
        .addColumn("job_id", "text", (c) => c.notNull())
        .addColumn("attempt", "integer", (c) => c.notNull())
        .addColumn("plan_id", "text", (c) => c.notNull())
        .addColumn("group_key", "text")
        // The branch whose baseline it may be: set only for a trusted plan of that branch's own
        // commits (a push, a dispatch), never for a pull request's, whatever commit it ran.
        .addColumn("baseline_ref", "text")
        // 1 once the job's end was recorded with it: an end the job ignored leaves its cases out of any baseline.
        .addColumn("accepted", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("entry", "text", (c) => c.notNull())
        .addColumn("failed_cases", "integer", (c) => c.notNull())
        .addColumn("case_count", "integer", (c) => c.notNull())
        .addColumn("finished_at", big, (c) => c.notNull())
        .addUniqueConstraint("result_runs_attempt", ["job_id", "attempt"])
        .execute();
      await db.schema.createIndex("result_runs_commit").on("result_runs").columns(["repo", "job_key", "sha"]).execute();
      await db.schema.createIndex("result_runs_plan").on("result_runs").column("plan_id").execute();
      // A pull request's page reads its group's runs, the compare page a commit's.
      await db.schema.createIndex("result_runs_group").on("result_runs").columns(["repo", "group_key", "id"]).execute();
      await db.schema.createIndex("result_runs_sha").on("result_runs").columns(["repo", "sha"]).execute();
      // The branch a pull request's results are judged against, as it was when its plan was made.
      await db.schema.alterTable("plans").addColumn("base_ref", "text").execute();
      await db.schema.createIndex("result_runs_finished").on("result_runs").column("finished_at").execute();
      await db.schema
        .createTable("result_cases")
        .addColumn("run_id", big, (c) => c.notNull())
        .addColumn("ord", "integer", (c) => c.notNull())
        .addColumn("test_key", "text", (c) => c.notNull())
        .addColumn("path", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("duration_ms", "integer")
        .addPrimaryKeyConstraint("result_cases_key", ["run_id", "ord"])
        .execute();
      await db.schema.createIndex("result_cases_test").on("result_cases").columns(["test_key", "run_id"]).execute();
    },
  },
  {
    name: "015-bisections",
    async up(db, engine) {
      const big = engine === "postgres" ? "bigint" : "integer";
      // A regression bisected from its check run. The unique key makes a second press (or the
      // check run of a newer push with the same last good commit) find the one under way.
      await db.schema
        .createTable("bisections")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("repo", "text", (c) => c.notNull())
        .addColumn("installation_id", big, (c) => c.notNull())
        .addColumn("job_key", "text", (c) => c.notNull())
        .addColumn("suite", "text", (c) => c.notNull())
        .addColumn("good_sha", "text", (c) => c.notNull())
        .addColumn("bad_sha", "text", (c) => c.notNull())
        .addColumn("tests", "text", (c) => c.notNull())
        .addColumn("commits", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("started_by", "text", (c) => c.notNull())
        .addColumn("check_run_id", big)
        .addColumn("created_at", big, (c) => c.notNull())
        .addUniqueConstraint("bisections_range", ["repo", "job_key", "good_sha"])
        .execute();
    },
  },
  {
    name: "016-bisections-by-repo",
    async up(db) {
      // The dashboard lists a repository's newest bisections.
      await db.schema.createIndex("bisections_repo_created").on("bisections").columns(["repo", "created_at"]).execute();
    },
  },
  {
    name: "017-judged-baselines",
    async up(db) {
      // The runs a run's check run compared it with, found from the merge base's ancestry
      // (which only GitHub knows), so the dashboard classifies against the same. Null for a
      // run never judged, as every run before: a populated store only gains a column.
      await db.schema.alterTable("result_runs").addColumn("judged_baseline", "text").execute();
    },
  },
  {
    name: "018-cancelled-bisections-step-aside",
    async up(db, engine) {
      // A cancelled bisection may be asked for again: one range is unique among those not
      // cancelled, and the cancelled ones stay listed. SQLite drops no table constraint, so
      // its table is made again without it.
      if (engine === "postgres") await sql`alter table bisections drop constraint if exists bisections_range`.execute(db);
      else {
        await sql`alter table bisections rename to bisections_before_018`.execute(db);
        await db.schema
          .createTable("bisections")
          .addColumn("id", "text", (c) => c.primaryKey())
          .addColumn("repo", "text", (c) => c.notNull())
          .addColumn("installation_id", "integer", (c) => c.notNull())
          .addColumn("job_key", "text", (c) => c.notNull())
          .addColumn("suite", "text", (c) => c.notNull())
          .addColumn("good_sha", "text", (c) => c.notNull())
          .addColumn("bad_sha", "text", (c) => c.notNull())
          .addColumn("tests", "text", (c) => c.notNull())
          .addColumn("commits", "text", (c) => c.notNull())
          .addColumn("state", "text", (c) => c.notNull())
          .addColumn("status", "text", (c) => c.notNull())
          .addColumn("started_by", "text", (c) => c.notNull())
          .addColumn("check_run_id", "integer")
          .addColumn("created_at", "integer", (c) => c.notNull())
          .execute();
        await sql`insert into bisections select id, repo, installation_id, job_key, suite, good_sha, bad_sha, tests, commits, state, status, started_by, check_run_id, created_at from bisections_before_018`.execute(
          db,
        );
        await sql`drop table bisections_before_018`.execute(db);
        await db.schema.createIndex("bisections_repo_created").on("bisections").columns(["repo", "created_at"]).execute();
      }
      await sql`create unique index if not exists bisections_range on bisections (repo, job_key, good_sha) where status <> 'cancelled'`.execute(db);
    },
  },
];

/** Applies pending migrations in order, each in its own transaction, recorded in kto_migrations. */
export async function migrate(db: Kysely<Database>, engine: Engine): Promise<string[]> {
  // One pinned connection: PostgreSQL's advisory lock belongs to the session that took it,
  // so replicas starting together migrate one at a time.
  return db.connection().execute(async (conn) => {
    await sql`create table if not exists kto_migrations (name text primary key, applied_at ${sql.raw(engine === "postgres" ? "bigint" : "integer")} not null)`.execute(
      conn,
    );
    if (engine === "postgres") await sql`select pg_advisory_lock(7305001)`.execute(conn);
    try {
      const done = new Set((await sql<{ name: string }>`select name from kto_migrations`.execute(conn)).rows.map((r) => r.name));
      const applied: string[] = [];
      for (const migration of MIGRATIONS) {
        if (done.has(migration.name)) continue;
        await conn.transaction().execute(async (trx) => {
          await migration.up(trx, engine);
          await sql`insert into kto_migrations (name, applied_at) values (${migration.name}, ${Date.now()})`.execute(trx);
        });
        applied.push(migration.name);
      }
      return applied;
    } finally {
      if (engine === "postgres") await sql`select pg_advisory_unlock(7305001)`.execute(conn);
    }
  });
}
