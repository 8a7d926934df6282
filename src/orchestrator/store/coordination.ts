import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

/** What replicas agree on through the store: who holds a lease-lock, and which webhook deliveries were handled. */
export class Coordination {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Takes or renews a named lease-lock: held by one owner until it expires. Works the same
   * on both engines; a replica that dies stops renewing and another takes over.
   */
  async acquireLock(name: string, owner: string, ttlMs: number, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("locks")
        .values({ name, owner, expires_at: now + ttlMs })
        .onConflict((oc) => oc.column("name").doNothing())
        .execute();
      const result = await trx
        .updateTable("locks")
        .set({ owner, expires_at: now + ttlMs })
        .where("name", "=", name)
        .where((eb) => eb.or([eb("owner", "=", owner), eb("expires_at", "<", now)]))
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 1;
    });
  }

  /** Whether `owner` still holds the lock until at least `until`: no other replica has taken it. */
  async holdsLock(name: string, owner: string, until: number): Promise<boolean> {
    const row = await this.db
      .selectFrom("locks")
      .select("name")
      .where("name", "=", name)
      .where("owner", "=", owner)
      .where("expires_at", ">=", until)
      .executeTakeFirst();
    return row !== undefined;
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    await this.db.deleteFrom("locks").where("name", "=", name).where("owner", "=", owner).execute();
  }

  /** True the first time a webhook delivery id is recorded: a redelivery changes nothing. */
  async recordDelivery(id: string, now: number): Promise<boolean> {
    const result = await this.db
      .insertInto("deliveries")
      .values({ id, at: now })
      .onConflict((oc) => oc.column("id").doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Whether a webhook delivery was handled to the end (or made its plan). */
  async deliverySeen(id: string): Promise<boolean> {
    return (await this.db.selectFrom("deliveries").select("id").where("id", "=", id).executeTakeFirst()) !== undefined;
  }
}
