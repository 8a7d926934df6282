import type { Kysely } from "kysely";
import { BisectionRepository } from "./bisection-repository.js";
import { Coordination } from "./coordination.js";
import { GitHubBudgetRepository } from "./github-budget-repository.js";
import { ResultHistory } from "./result-history.js";
import { RunnerRepository } from "./runner-repository.js";
import { JobQueries } from "./job-queries.js";
import type { Engine } from "./migrations.js";
import { OutboxRepository } from "./outbox-repository.js";
import { PlanRepository } from "./plan-repository.js";
import type { TransitionRequest, JobRecord } from "./records.js";
import type { Database } from "./schema.js";
import { applyTransitions } from "./transitions.js";

export type * from "./records.js";
export type { Cost, PauseKind, Refusal, SpendLimits, Standing } from "./github-budget-repository.js";
export type { QueueLane, TransitionEntry } from "./job-queries.js";
export type { BisectionRecord, BisectionStatus, NewBisection } from "./bisection-repository.js";
export type { HistoryCase, NewResultRun, ResultRun, TestResultRow } from "./result-history.js";

/** What the App reads of jobs, plans and runners; nothing here changes them. */
export interface JobReads {
  readonly jobs: Pick<JobQueries, "job" | "list" | "jobsOfRun" | "jobsOfBatch" | "unfinishedJobsOf" | "recentlyFinished" | "countsByState" | "activeBetween">;
  readonly plans: Pick<PlanRepository, "plan" | "latestPlan" | "plansAt">;
  readonly runners: Pick<RunnerRepository, "list">;
  readonly outbox: Pick<OutboxRepository, "finalReportBacklog">;
}

/** The webhook deliveries already handled, so that a redelivery is handled once. */
export type DeliveryLog = Pick<Coordination, "deliverySeen" | "recordDelivery">;

/**
 * The orchestrator's persistence: one schema and one set of queries for SQLite and
 * PostgreSQL, over one Kysely handle. Each concern is a repository of its own (jobs,
 * plans, runners, the outbox, replicas' coordination); the store is their one face,
 * so a caller holds one handle, asks the repository that holds what it wants, and a
 * transaction spans what it must.
 */
export class Store {
  readonly jobs: JobQueries;
  readonly plans: PlanRepository;
  readonly runners: RunnerRepository;
  readonly outbox: OutboxRepository;
  readonly coordination: Coordination;
  /** GitHub's limits as every replica spends from them. */
  readonly githubBudget: GitHubBudgetRepository;
  readonly history: ResultHistory;
  /** Regressions bisected from their check runs. */
  readonly bisections: BisectionRepository;

  constructor(
    readonly db: Kysely<Database>,
    readonly engine: Engine,
  ) {
    this.jobs = new JobQueries(db);
    this.plans = new PlanRepository(db, engine);
    this.runners = new RunnerRepository(db);
    this.outbox = new OutboxRepository(db);
    this.coordination = new Coordination(db);
    this.githubBudget = new GitHubBudgetRepository(db);
    this.history = new ResultHistory(db);
    this.bisections = new BisectionRepository(db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** One state change, its audit row and the side effects it implies, in one transaction. Null when the guard does not hold. */
  async transition(request: TransitionRequest): Promise<JobRecord | null> {
    return (await this.transitionAll([request]))[0]!;
  }

  /** Several transitions in one transaction and one commit (a scheduling pass's decisions), each guarded on its own. */
  async transitionAll(requests: readonly TransitionRequest[]): Promise<(JobRecord | null)[]> {
    if (requests.length === 0) return [];
    return this.db.transaction().execute((trx) => applyTransitions(trx, this.engine, requests));
  }
}
