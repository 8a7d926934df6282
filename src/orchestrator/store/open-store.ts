import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { migrate, type Engine } from "./migrations.js";
import type { Database } from "./schema.js";
import { Store } from "./store.js";

export interface StoreLocation {
  /** postgres://… for several App replicas sharing one queue. */
  databaseUrl?: string;
  /** Directory of the embedded SQLite database (default `.kto/` in the working directory). */
  dataDir?: string;
}

// BIGINT columns hold millisecond timestamps, well inside a double's exact range.
pg.types.setTypeParser(20, (value) => Number(value));

/** Opens and migrates the store: PostgreSQL when a URL is given, else SQLite in WAL mode. */
export async function openStore(location: StoreLocation = {}): Promise<Store> {
  // An empty databaseUrl means "embedded", even when DATABASE_URL is set.
  const url = location.databaseUrl ?? process.env.DATABASE_URL;
  let db: Kysely<Database>;
  let engine: Engine;
  if (url) {
    engine = "postgres";
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 10 }) }) });
  } else {
    engine = "sqlite";
    const dir = resolve(location.dataDir ?? process.env.KTO_DATA_DIR ?? ".kto");
    mkdirSync(dir, { recursive: true });
    const sqlite = new BetterSqlite3(join(dir, "kto.db"));
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = FULL"); // a transition the store acknowledged survives a crash
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("foreign_keys = ON");
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  await migrate(db, engine);
  return new Store(db, engine);
}
