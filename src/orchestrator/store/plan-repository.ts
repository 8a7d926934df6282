import type { Insertable, Kysely } from "kysely";
import { buildNeeded } from "../../config/job-spec.js";
import type { JobState } from "../job-state.js";
import type { Engine } from "./migrations.js";
import { toPlan, type ApprovalPhase, type NewJob, type NewPlan, type PlanEffects, type PlanRecord, type TransitionRequest } from "./records.js";
import type { Database, JobsTable, TransitionsTable } from "./schema.js";
import { applyTransitions, recordEffects, settleWaiting } from "./transitions.js";

/** A plan's jobs, builds first, each with the store id of the build it waits for (and that build's name). */
function withBuilds(jobs: readonly NewJob[]): { job: NewJob; needs: { id: string; name: string } | null }[] {
  const byPlanId = new Map(jobs.map((job) => [job.spec.id, job]));
  // Builds first: a job's build then always has the lower seq, and every transaction locks
  // jobs in seq order, the build before the jobs that wait for it.
  const ordered = [...jobs.filter((job) => job.spec.runner === "build"), ...jobs.filter((job) => job.spec.runner !== "build")];
  return ordered.map((job) => {
    const named = buildNeeded(job.spec);
    if (job.needsJobId !== undefined) return { job, needs: { id: job.needsJobId, name: named ?? job.needsJobId } };
    if (named === undefined) return { job, needs: null };
    const build = byPlanId.get(named);
    if (build?.spec.runner !== "build") throw new Error(`job ${job.id} boots build ${named}, which is not a build of its plan`);
    return { job, needs: { id: build.id, name: named } };
  });
}

/** Plans: submitted with their jobs, superseding their group's older plans, and pruned when long finished. */
export class PlanRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly engine: Engine,
  ) {}

  /**
   * Inserts a plan and its jobs. A plan in the same group (a newer push to the same pull
   * request) cancels the older plan's unfinished jobs in the same transaction; `effects`
   * says what each of those, and each new job, implies.
   */
  async submitPlan(plan: NewPlan, effects: PlanEffects): Promise<{ cancelled: string[]; duplicate: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      const cancelled: string[] = [];
      if (plan.deliveryId !== undefined) {
        // Two deliveries with one id (GitHub's redelivery racing the first): the second plans nothing.
        const recorded = await trx
          .insertInto("deliveries")
          .values({ id: plan.deliveryId, at: plan.now })
          .onConflict((oc) => oc.column("id").doNothing())
          .executeTakeFirst();
        if (Number(recorded.numInsertedOrUpdatedRows ?? 0) !== 1) return { cancelled, duplicate: true };
      }
      if (plan.groupKey) {
        let olderQuery = trx
          .selectFrom("jobs")
          .innerJoin("plans", "plans.id", "jobs.plan_id")
          .select(["jobs.id", "jobs.plan_id", "jobs.state", "jobs.attempt", "jobs.run_id", "jobs.runner_id", "jobs.batch_key"])
          .where("plans.group_key", "=", plan.groupKey)
          .where("plans.id", "!=", plan.id)
          .where("jobs.state", "in", ["awaiting_approval", "waiting", "queued", "dispatched", "running"])
          .orderBy("jobs.seq");
        // Locked as read (PostgreSQL): a report or a dispatch committing meanwhile would make
        // this read stale, and its state and the effects built from it wrong.
        if (this.engine === "postgres") olderQuery = olderQuery.forUpdate(["jobs"]);
        const older = await olderQuery.execute();
        const requests: TransitionRequest[] = older.map((job) => ({
          jobId: job.id,
          from: [job.state],
          to: "cancelled",
          set: { outcome: "cancelled", reason: `superseded by plan ${plan.id}` },
          reason: `superseded by plan ${plan.id}`,
          effects: effects.superseded(
            { id: job.id, planId: job.plan_id, state: job.state, attempt: job.attempt, runId: job.run_id, runnerId: job.runner_id, batchKey: job.batch_key },
            plan.id,
          ),
          released: effects.released,
          now: plan.now,
        }));
        const done = await applyTransitions(trx, this.engine, requests);
        done.forEach((job, i) => job && cancelled.push(requests[i]!.jobId));
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
          trusted: plan.approved ? 1 : 0,
          gate_reason: plan.gateReason ?? null,
          base_ref: plan.baseRef ?? null,
        })
        .execute();
      const planned = withBuilds(plan.jobs);
      const stateOf = (needs: { name: string } | null): JobState => (!plan.approved ? "awaiting_approval" : needs ? "waiting" : "queued");
      const reasonOf = (needs: { name: string } | null): string | null =>
        !plan.approved ? (plan.approvalReason ?? null) : needs ? `waiting for build ${needs.name}` : null;
      const jobs: Insertable<JobsTable>[] = planned.map(({ job, needs }) => ({
        id: job.id,
        plan_id: plan.id,
        name: job.name,
        repo: plan.repo ?? null,
        repo_private: plan.repoPrivate === undefined || plan.repoPrivate === null ? null : Number(plan.repoPrivate),
        spec: JSON.stringify(job.spec),
        labels: JSON.stringify([...job.labels].sort()),
        priority: job.priority,
        state: stateOf(needs),
        needs_job_id: needs?.id ?? null,
        attempt: 1,
        max_attempts: job.maxAttempts,
        retries_left: job.retries,
        flaky: 0,
        not_before: plan.now,
        reason: reasonOf(needs),
        created_at: plan.now,
        queued_at: plan.now,
      }));
      const audit: Insertable<TransitionsTable>[] = planned.map(({ job, needs }) => ({
        job_id: job.id,
        attempt: 1,
        from_state: null,
        to_state: stateOf(needs),
        at: plan.now,
        reason: "submitted",
      }));
      // Many jobs in few statements: a plan of thousands commits in one go.
      for (let i = 0; i < jobs.length; i += 200) {
        await trx
          .insertInto("jobs")
          .values(jobs.slice(i, i + 200))
          .execute();
        await trx
          .insertInto("transitions")
          .values(audit.slice(i, i + 200))
          .execute();
      }
      await recordEffects(
        trx,
        plan.id,
        planned.flatMap(({ job, needs }) => effects.submitted({ id: job.id, planId: plan.id, state: stateOf(needs) })),
        plan.now,
      );
      // A re-run's job may wait for an earlier plan's build, which may have ended already.
      const outside = planned.filter(({ job }) => job.needsJobId !== undefined).map(({ job }) => job.id);
      if (plan.approved) await settleWaiting(trx, this.engine, outside, effects.released, plan.now);
      return { cancelled, duplicate: false };
    });
  }

  async plan(id: string): Promise<PlanRecord | null> {
    const row = await this.db.selectFrom("plans").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toPlan(row) : null;
  }

  /** The group's newest plan: for a pull request, the last push kto planned. */
  async latestPlan(groupKey: string): Promise<PlanRecord | null> {
    const row = await this.db
      .selectFrom("plans")
      .selectAll()
      .where("group_key", "=", groupKey)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
    return row ? toPlan(row) : null;
  }

  /** The plans of a repository's commit, newest first: what kto knows of where the commit came from. */
  async plansAt(repo: string, headSha: string): Promise<PlanRecord[]> {
    const rows = await this.db
      .selectFrom("plans")
      .selectAll()
      .where("repo", "=", repo)
      .where("head_sha", "=", headSha)
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .execute();
    return rows.map(toPlan);
  }

  /** `phase`: the check run that holds the plan, or the newer one that says the hold ended. */
  async markApprovalCheckRunRequested(planId: string, now: number | null, phase: ApprovalPhase): Promise<void> {
    const column = phase === "hold" ? "approval_check_run_requested_at" : "approval_end_check_run_requested_at";
    await this.db
      .updateTable("plans")
      .set({ [column]: now })
      .where("id", "=", planId)
      .execute();
  }

  async setApprovalCheckRunId(planId: string, checkRunId: number, phase: ApprovalPhase): Promise<void> {
    const column = phase === "hold" ? "approval_check_run_id" : "approval_end_check_run_id";
    await this.db
      .updateTable("plans")
      .set({ [column]: checkRunId })
      .where("id", "=", planId)
      .execute();
  }

  async planIds(): Promise<string[]> {
    return (await this.db.selectFrom("plans").select("id").orderBy("created_at").orderBy("id").execute()).map((p) => p.id);
  }

  /** Deletes plans whose every job finished before `before`; running plans are never touched. */
  async pruneFinishedPlans(before: number): Promise<string[]> {
    return this.db.transaction().execute(async (trx) => {
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
      await trx
        .deleteFrom("outbox")
        .where("job_id", "in", [...jobIds, ...ids])
        .execute();
      await trx.deleteFrom("plans").where("id", "in", ids).execute();
      return ids;
    });
  }
}
