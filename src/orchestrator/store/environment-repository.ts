import type { Kysely } from "kysely";
import { toEnvironment, type EnvironmentRecord } from "./records.js";
import type { Database, EnvironmentState } from "./schema.js";

/** The environments the pools reported: what the queue is assigned to. */
export class EnvironmentRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Adds or refreshes environments, all in one transaction (one sync of a pool, one commit). */
  async upsertEnvironments(envs: readonly EnvironmentRecord[]): Promise<void> {
    if (envs.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const env of envs) {
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
          .insertInto("environments")
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

  async setEnvironmentState(id: string, state: EnvironmentState, now: number): Promise<void> {
    await this.db.updateTable("environments").set({ state, last_seen: now }).where("id", "=", id).execute();
  }

  async environments(pool?: string): Promise<EnvironmentRecord[]> {
    let query = this.db.selectFrom("environments").selectAll().orderBy("id");
    if (pool) query = query.where("pool", "=", pool);
    return (await query.execute()).map(toEnvironment);
  }
}
