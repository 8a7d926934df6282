import { sql, type Kysely, type Transaction } from "kysely";
import type { Database } from "./schema.js";

/** Which of GitHub's limits asked an installation to wait. */
export type PauseKind = "primary" | "secondary";

/** An installation's standing with GitHub's limits, as every replica reads it. */
export interface Standing {
  pausedUntil: number;
  pausedBy: PauseKind | null;
  secondaryStrikes: number;
  secondaryUntil: number;
}

/** What kto lets itself spend of GitHub's secondary limits, per installation. */
export interface SpendLimits {
  pointsPerMinute: number;
  contentPerMinute: number;
  contentPerHour: number;
}

export interface Cost {
  points: number;
  createsContent: boolean;
}

/** Why a request may not go now, and when it may. */
export type Refusal = { reason: "paused"; standing: Standing } | { reason: keyof SpendLimits; freeAt: number };

const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * GitHub's limits kept in the store, so that every replica spends from one budget and a
 * restart remembers the hour: each installation's pause and the requests it sent. An
 * admission is one transaction that first writes the installation's row, which on
 * PostgreSQL locks it and on SQLite takes the write lock: two replicas cannot both take
 * the last unit.
 */
export class GitHubBudgetRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The installation's standing, read without a lock: enough where nothing is spent. */
  async standing(installationId: number): Promise<Standing> {
    const row = await this.db.selectFrom("github_standing").selectAll().where("installation_id", "=", installationId).executeTakeFirst();
    return row ? standingOf(row) : { pausedUntil: 0, pausedBy: null, secondaryStrikes: 0, secondaryUntil: 0 };
  }

  /**
   * Refuses the request while the installation is paused or, with `limits`, when it would
   * spend past them; otherwise records it as sent. Old spends are pruned as it goes.
   */
  async spend(installationId: number, now: number, cost: Cost, limits: SpendLimits): Promise<Refusal | null> {
    return this.db.transaction().execute(async (trx) => {
      const standing = await locked(trx, installationId);
      if (standing.pausedUntil > now) return { reason: "paused", standing };
      // A read only counts for a minute, content for an hour.
      await trx
        .deleteFrom("github_spends")
        .where("installation_id", "=", installationId)
        .where((eb) => eb.or([eb("at", "<=", now - HOUR), eb.and([eb("creates_content", "=", 0), eb("at", "<=", now - MINUTE)])]))
        .execute();
      const sums = await trx
        .selectFrom("github_spends")
        .select([
          sql<number | null>`sum(case when at > ${now - MINUTE} then points else 0 end)`.as("points"),
          sql<number | null>`sum(case when at > ${now - MINUTE} then creates_content else 0 end)`.as("content_minute"),
          sql<number | null>`sum(creates_content)`.as("content_hour"),
        ])
        .where("installation_id", "=", installationId)
        .where("at", ">", now - HOUR)
        .executeTakeFirst();
      const points = Number(sums?.points ?? 0);
      if (points + cost.points > limits.pointsPerMinute) {
        // Room comes back as the oldest points leave the minute.
        const recent = await trx
          .selectFrom("github_spends")
          .select(["at", "points"])
          .where("installation_id", "=", installationId)
          .where("at", ">", now - MINUTE)
          .orderBy("at")
          .orderBy("id")
          .execute();
        let excess = points + cost.points - limits.pointsPerMinute;
        const freeing = recent.find((p) => (excess -= p.points) <= 0) ?? recent.at(-1);
        return { reason: "pointsPerMinute", freeAt: Number(freeing?.at ?? now) + MINUTE };
      }
      if (cost.createsContent) {
        const over = async (reason: "contentPerMinute" | "contentPerHour", count: number, limit: number, window: number): Promise<Refusal> => {
          const oldest = await trx
            .selectFrom("github_spends")
            .select("at")
            .where("installation_id", "=", installationId)
            .where("creates_content", "=", 1)
            .where("at", ">", now - window)
            .orderBy("at")
            .orderBy("id")
            .limit(1)
            .offset(count - limit)
            .executeTakeFirst();
          return { reason, freeAt: Number(oldest?.at ?? now) + window };
        };
        const minute = Number(sums?.content_minute ?? 0);
        const hour = Number(sums?.content_hour ?? 0);
        if (minute >= limits.contentPerMinute) return over("contentPerMinute", minute, limits.contentPerMinute, MINUTE);
        if (hour >= limits.contentPerHour) return over("contentPerHour", hour, limits.contentPerHour, HOUR);
      }
      await trx
        .insertInto("github_spends")
        .values({ installation_id: installationId, at: now, points: cost.points, creates_content: cost.createsContent ? 1 : 0 })
        .execute();
      return null;
    });
  }

  /** Changes the installation's standing under its lock; the standing it now has. */
  async changeStanding(installationId: number, change: (standing: Standing) => Standing): Promise<Standing> {
    return this.db.transaction().execute(async (trx) => {
      const next = change(await locked(trx, installationId));
      await trx
        .updateTable("github_standing")
        .set({
          paused_until: next.pausedUntil,
          paused_by: next.pausedBy,
          secondary_strikes: next.secondaryStrikes,
          secondary_until: next.secondaryUntil,
        })
        .where("installation_id", "=", installationId)
        .execute();
      return next;
    });
  }

  /**
   * The most content-creating requests any one installation (not the App's own calls) has
   * sent since `since`: how near the busiest is to GitHub's hourly limit.
   */
  async mostContentSince(since: number): Promise<number> {
    const perInstallation = this.db
      .selectFrom("github_spends")
      .select(sql<number>`count(*)`.as("n"))
      .where("installation_id", ">", 0)
      .where("creates_content", "=", 1)
      .where("at", ">", since)
      .groupBy("installation_id")
      .as("per_installation");
    const row = await this.db
      .selectFrom(perInstallation)
      .select(sql<number | null>`max(n)`.as("most"))
      .executeTakeFirst();
    return Number(row?.most ?? 0);
  }

  /** How many installations (not the App's own calls) are paused at `now`. */
  async pausedInstallations(now: number): Promise<number> {
    const row = await this.db
      .selectFrom("github_standing")
      .select(sql<number>`count(*)`.as("n"))
      .where("installation_id", ">", 0)
      .where("paused_until", ">", now)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}

/** The installation's row, made if new, written first so the transaction holds it alone. */
async function locked(trx: Transaction<Database>, installationId: number): Promise<Standing> {
  const row = await trx
    .insertInto("github_standing")
    .values({ installation_id: installationId })
    .onConflict((oc) => oc.column("installation_id").doUpdateSet((eb) => ({ installation_id: eb.ref("excluded.installation_id") })))
    .returningAll()
    .executeTakeFirstOrThrow();
  return standingOf(row);
}

function standingOf(row: { paused_until: number; paused_by: string | null; secondary_strikes: number; secondary_until: number }): Standing {
  return {
    pausedUntil: Number(row.paused_until),
    pausedBy: row.paused_by === "primary" || row.paused_by === "secondary" ? row.paused_by : null,
    secondaryStrikes: Number(row.secondary_strikes),
    secondaryUntil: Number(row.secondary_until),
  };
}
