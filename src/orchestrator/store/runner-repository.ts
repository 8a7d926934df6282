import type { Kysely } from "kysely";
import { toRunner, type RunnerRecord } from "./records.js";
import type { Database, RunnerState } from "./schema.js";

/** The runners the pools reported: what the queue is assigned to. */
export class RunnerRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Adds or refreshes runners, all in one transaction (one sync of a pool, one commit). */
  async upsertRunners(runners: readonly RunnerRecord[]): Promise<void> {
    if (runners.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const env of runners) {
        const values = {
          id: env.id,
          pool: env.pool,
          labels: JSON.stringify([...env.labels].sort()),
          capacity: env.capacity,
          state: env.state,
          last_seen: env.lastSeen,
          owner: env.owner ?? null,
          scope: JSON.stringify(env.scope),
        };
        await trx
          .insertInto("runners")
          .values(values)
          .onConflict((oc) =>
            oc.column("id").doUpdateSet({
              pool: values.pool,
              labels: values.labels,
              capacity: values.capacity,
              state: values.state,
              last_seen: values.last_seen,
              owner: values.owner,
              scope: values.scope,
            }),
          )
          .execute();
      }
    });
  }

  async setRunnerState(id: string, state: RunnerState, now: number): Promise<void> {
    await this.db.updateTable("runners").set({ state, last_seen: now }).where("id", "=", id).execute();
  }

  async list(pool?: string): Promise<RunnerRecord[]> {
    let query = this.db.selectFrom("runners").selectAll().orderBy("id");
    if (pool) query = query.where("pool", "=", pool);
    return (await query.execute()).map(toRunner);
  }
}
