import type { Transaction } from "kysely";
import { isTerminal, type JobState } from "../job-state.js";
import type { Engine } from "./migrations.js";
import type { Database } from "./schema.js";

/** What a dependent's move needs to know of its build. */
export interface BuildEnd {
  id: string;
  name: string;
  state: JobState;
  reason: string | null;
}

const ENDED: Partial<Record<JobState, string>> = {
  failed: "failed",
  timed_out: "timed out",
  cancelled: "was cancelled",
  errored: "errored",
  skipped: "was skipped",
};

/**
 * Where a job waiting for `build` goes now: the queue once the build succeeded, `skipped`
 * (naming the build and how it ended) once it ended otherwise, nowhere while it has not ended.
 */
export function releaseOf(build: BuildEnd): { to: "queued" | "skipped"; reason: string } | null {
  if (!isTerminal(build.state)) return null;
  if (build.state === "succeeded") return { to: "queued", reason: `build ${build.name} succeeded` };
  const why = build.reason ? `: ${build.reason.split("\n")[0]}` : "";
  return { to: "skipped", reason: `build ${build.name} ${ENDED[build.state] ?? build.state}${why}` };
}

/** The build a dependent needs, as now; on PostgreSQL locked, so that its end cannot commit unseen meanwhile. */
export async function buildOf(trx: Transaction<Database>, engine: Engine, buildId: string): Promise<BuildEnd | null> {
  let query = trx.selectFrom("jobs").select(["id", "name", "state", "reason"]).where("id", "=", buildId);
  if (engine === "postgres") query = query.forUpdate();
  return (await query.executeTakeFirst()) ?? null;
}

/** The store id of the build a job needs; null when it needs none. The column never changes, so no lock. */
export async function buildNeededBy(trx: Transaction<Database>, jobId: string): Promise<string | null> {
  const row = await trx.selectFrom("jobs").select("needs_job_id").where("id", "=", jobId).executeTakeFirst();
  return row?.needs_job_id ?? null;
}

/** The jobs waiting for `buildId`, oldest first: the order every transaction locks jobs in. */
export async function waitingOn(trx: Transaction<Database>, buildId: string): Promise<{ id: string; plan_id: string; attempt: number }[]> {
  return trx
    .selectFrom("jobs")
    .select(["id", "plan_id", "attempt"])
    .where("needs_job_id", "=", buildId)
    .where("state", "=", "waiting")
    .orderBy("seq")
    .execute();
}
