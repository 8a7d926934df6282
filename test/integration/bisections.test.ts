import { describe, expect, it } from "@jest/globals";
import { sql } from "kysely";
import { migrate, MIGRATIONS } from "../../src/orchestrator/store/migrations.js";
import type { NewBisection, Store } from "../../src/orchestrator/store/store.js";
import { ENGINES, withStore } from "../helpers/stores.js";

const bisection = (over: Partial<NewBisection> = {}): NewBisection => ({
  id: "a1",
  repo: "o/r",
  installationId: 1,
  jobKey: "unit",
  suite: "unit",
  goodSha: "good",
  badSha: "bad",
  tests: "[]",
  commits: "[]",
  state: '{"steps":[]}',
  status: "running",
  startedBy: "maintainer",
  createdAt: 1_000,
  ...over,
});

/** The names of the bisections table's indexes, as the engine lists them. */
async function indexes(store: Store): Promise<string[]> {
  const rows =
    store.engine === "postgres"
      ? (await sql<{ name: string }>`select indexname as name from pg_indexes where tablename = 'bisections'`.execute(store.db)).rows
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'index' and tbl_name = 'bisections' and sql is not null`.execute(store.db))
          .rows;
  return rows.map((r) => r.name).sort();
}

describe.each(ENGINES)("bisections on %s", (engine) => {
  it("keeps one bisection per repository, job and good commit, and moves it on only from the state read", async () => {
    await withStore(engine, async (store) => {
      expect((await store.bisections.create(bisection())).created).toBe(true);
      // A newer push of the same regression: same good commit, a later bad one.
      const again = await store.bisections.create(bisection({ id: "b2", badSha: "later" }));
      expect(again).toMatchObject({ created: false, record: { id: "a1", badSha: "bad" } });
      expect((await store.bisections.create(bisection({ id: "c3", jobKey: "other" }))).created).toBe(true);

      expect(await store.bisections.advance("a1", '{"steps":[]}', { state: '{"steps":[1]}', status: "running" })).toBe(true);
      expect(await store.bisections.advance("a1", '{"steps":[]}', { state: '{"steps":[2]}', status: "found" })).toBe(false);
      await store.bisections.setCheckRunId("a1", 2 ** 40);
      expect(await store.bisections.bisection("a1")).toMatchObject({ state: '{"steps":[1]}', status: "running", checkRunId: 2 ** 40, installationId: 1 });
    });
  });

  it("lets a cancelled bisection's range be bisected anew, keeping the cancelled one; one that ended otherwise still holds its range", async () => {
    await withStore(engine, async (store) => {
      await store.bisections.create(bisection());
      // A cancel moves it from the state read, as a step's end does: the one that reads first wins.
      expect(await store.bisections.advance("a1", '{"steps":[]}', { state: '{"steps":[],"cancelledBy":"maintainer"}', status: "cancelled" })).toBe(true);
      expect(await store.bisections.advance("a1", '{"steps":[]}', { state: '{"steps":[1]}', status: "running" })).toBe(false);

      const anew = await store.bisections.create(bisection({ id: "b2", createdAt: 2_000 }));
      expect(anew).toMatchObject({ created: true, record: { id: "b2", status: "running" } });
      expect(await store.bisections.create(bisection({ id: "c3", createdAt: 3_000 }))).toMatchObject({ created: false, record: { id: "b2" } });
      expect((await store.bisections.recent("o/r", 10)).map((b) => [b.id, b.status])).toEqual([
        ["b2", "running"],
        ["a1", "cancelled"],
      ]);

      expect(await store.bisections.advance("b2", '{"steps":[]}', { state: '{"steps":[1]}', status: "found" })).toBe(true);
      expect(await store.bisections.create(bisection({ id: "d4", createdAt: 4_000 }))).toMatchObject({ created: false, record: { id: "b2", status: "found" } });
    });
  });

  it("migrates the bisections kept before cancelled ones stepped aside, keeping each and its range's hold", async () => {
    await withStore(engine, async (store) => {
      // The table as migrations 015 and 016 made it.
      await sql`drop table bisections`.execute(store.db);
      for (const name of ["015-bisections", "016-bisections-by-repo"]) await MIGRATIONS.find((m) => m.name === name)!.up(store.db, store.engine);
      await sql`delete from kto_migrations where name = '018-cancelled-bisections-step-aside'`.execute(store.db);
      await store.bisections.create(bisection({ id: "held" }));
      await store.bisections.create(bisection({ id: "gone", jobKey: "other" }));
      await store.bisections.setCheckRunId("held", 2 ** 40);
      await store.bisections.advance("gone", '{"steps":[]}', { state: '{"steps":[]}', status: "cancelled" });
      const before = [await store.bisections.bisection("held"), await store.bisections.bisection("gone")];

      expect(await migrate(store.db, store.engine)).toEqual(["018-cancelled-bisections-step-aside"]);
      expect([await store.bisections.bisection("held"), await store.bisections.bisection("gone")]).toEqual(before);
      expect(await indexes(store)).toEqual(expect.arrayContaining(["bisections_range", "bisections_repo_created"]));
      expect(await store.bisections.create(bisection({ id: "again", createdAt: 2_000 }))).toMatchObject({ created: false, record: { id: "held" } });
      expect(await store.bisections.create(bisection({ id: "anew", jobKey: "other", createdAt: 2_000 }))).toMatchObject({ created: true });
    });
  });
});
