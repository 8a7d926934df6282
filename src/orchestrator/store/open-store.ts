import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from "kysely";
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
    const file = join(dir, "kto.db");
    ownerOnly(file);
    const sqlite = new BetterSqlite3(file);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = FULL"); // a transition the store acknowledged survives a crash
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("foreign_keys = ON");
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: preparedOnce(sqlite) }) });
  }
  await migrate(db, engine);
  return new Store(db, engine);
}

/** Statements kept prepared: Kysely sends the same SQL text for the same query shape. */
const STATEMENTS_CACHED = 256;

/**
 * The database as Kysely's SQLite driver uses it, preparing each distinct statement once:
 * SQLite compiles a statement in about as long as it takes to run a small one, and a
 * scheduling pass runs the same few hundred times. Every transaction takes the write lock
 * when it begins: a deferred one that read first and then writes while another process
 * (a second App, `kto` reading the same store) has written meanwhile fails at once with
 * "database is locked", where one that waits at its start is served by busy_timeout.
 */
function preparedOnce(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement) {
        cache.delete(text);
      } else {
        statement = sqlite.prepare(text === "begin" ? "begin immediate" : text);
        if (cache.size >= STATEMENTS_CACHED) cache.delete(cache.keys().next().value!);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * The store holds every job's results and the App's queue: readable by its owner only.
 * SQLite gives a database's -wal and -shm files the database file's mode, so a database
 * created 0600, or made 0600 before it is opened, keeps them 0600 too.
 */
function ownerOnly(file: string): void {
  try {
    closeSync(openSync(file, "wx", 0o600));
  } catch (error) {
    if (errorCode(error) !== "EEXIST") throw error;
  }
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(path, 0o600);
    } catch (error) {
      // Not there yet (SQLite makes it with the database's mode), or another user's store that this process may only read.
      if (errorCode(error) !== "ENOENT" && errorCode(error) !== "EPERM") throw error;
    }
  }
}
