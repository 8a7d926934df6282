import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

/** A case of a run that a comparison with a baseline may classify, by its identity key (which holds its path and name), beside the baseline's result of the same test. */
export interface ChangedCase {
  key: string;
  status: string;
  /** The baseline's result of the test; null where the baseline has none. */
  baseStatus: string | null;
}

/** A baseline's case the run it is compared with does not have. */
export interface GoneCase {
  key: string;
  status: string;
}

const FAILING = ["failed", "errored"];
/** No run has it (ids start at 1): a run compared with no baseline joins nothing. */
const NO_RUN = -1;
/** Test keys per statement: well under SQLite's and PostgreSQL's bound on a statement's parameters. */
const KEYS_PER_READ = 500;

/**
 * The cases of a run that can differ from its baseline's, read without the rest: a run may
 * list 100,000 cases, and a page classifying a pull request's jobs reads a few of its
 * runs. Each reads the run's cases in order and the baseline's through the test index.
 */
export class CaseChanges {
  constructor(private readonly db: Kysely<Database>) {}

  private joined(headRunId: number, baseRunId: number | null) {
    return this.db
      .selectFrom("result_cases as h")
      .leftJoin("result_cases as b", (join) => join.onRef("b.test_key", "=", "h.test_key").on("b.run_id", "=", baseRunId ?? NO_RUN))
      .where("h.run_id", "=", headRunId)
      .where((eb) =>
        // What a comparison does not call unchanged: a failure, a pass where the baseline failed
        // or has no result, and a skip where it passed (said to be skipped now).
        eb.or([
          eb("h.status", "in", FAILING),
          eb.and([eb("h.status", "=", "passed"), eb.or([eb("b.status", "is", null), eb("b.status", "in", FAILING)])]),
          eb.and([eb("h.status", "=", "skipped"), eb("b.status", "=", "passed")]),
        ]),
      );
  }

  /** The run's first `limit` cases, in its order, that a comparison with `baseRunId` (none: null) does not call unchanged. */
  async changed(headRunId: number, baseRunId: number | null, limit: number): Promise<ChangedCase[]> {
    const rows = await this.joined(headRunId, baseRunId).select(["h.test_key", "h.status", "b.status as base_status"]).orderBy("h.ord").limit(limit).execute();
    return rows.map((row) => ({ key: row.test_key, status: row.status, baseStatus: row.base_status }));
  }

  /** How many cases `changed` would give without a limit. */
  async countChanged(headRunId: number, baseRunId: number | null): Promise<number> {
    const row = await this.joined(headRunId, baseRunId)
      .select((eb) => eb.fn.countAll<number | string | bigint>().as("n"))
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** The first `limit` cases of `baseRunId`, in its order, whose test `headRunId` does not list. */
  async gone(baseRunId: number, headRunId: number, limit: number): Promise<GoneCase[]> {
    const rows = await this.db
      .selectFrom("result_cases as b")
      .select(["b.test_key", "b.status"])
      .where("b.run_id", "=", baseRunId)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom("result_cases as h").select("h.ord").where("h.run_id", "=", headRunId).whereRef("h.test_key", "=", "b.test_key"))),
      )
      .orderBy("b.ord")
      .limit(limit)
      .execute();
    return rows.map((row) => ({ key: row.test_key, status: row.status }));
  }

  /** The results of tests `keys` in runs `runIds`, each read through the test index. */
  async statusesOf(runIds: readonly number[], keys: readonly string[]): Promise<{ runId: number; key: string; status: string }[]> {
    if (runIds.length === 0) return [];
    const found: { runId: number; key: string; status: string }[] = [];
    for (let start = 0; start < keys.length; start += KEYS_PER_READ) {
      const rows = await this.db
        .selectFrom("result_cases")
        .select(["run_id", "test_key", "status"])
        .where("test_key", "in", keys.slice(start, start + KEYS_PER_READ))
        .where("run_id", "in", [...runIds])
        .execute();
      for (const row of rows) found.push({ runId: Number(row.run_id), key: row.test_key, status: row.status });
    }
    return found;
  }
}
