import type { Kysely } from "kysely";
import { Coordination } from "./coordination.js";
import { EnvironmentRepository } from "./environment-repository.js";
import { JobQueries } from "./job-queries.js";
import type { Engine } from "./migrations.js";
import { OutboxRepository } from "./outbox-repository.js";
import { PlanRepository } from "./plan-repository.js";
import type { TransitionRequest, JobRecord } from "./records.js";
import type { Database } from "./schema.js";
import { applyTransitions } from "./transitions.js";

export type * from "./records.js";
export type { QueueLane, TransitionEntry } from "./job-queries.js";

/** What the App reads of jobs, plans and environments; nothing here changes them. */
export type JobReads = Pick<
  Store,
  | "job"
  | "jobs"
  | "jobsOfRun"
  | "plan"
  | "latestPlan"
  | "plansAt"
  | "unfinishedJobsOf"
  | "recentlyFinished"
  | "countsByState"
  | "environments"
  | "finalReportBacklog"
>;

/** The webhook deliveries already handled, so that a redelivery is handled once. */
export type DeliveryLog = Pick<Store, "deliverySeen" | "recordDelivery">;

/**
 * The orchestrator's persistence: one schema and one set of queries for SQLite and
 * PostgreSQL, over one Kysely handle. Each concern is a repository of its own (jobs,
 * plans, environments, the outbox, replicas' coordination); the store is their one face,
 * so a caller holds one handle and a transaction spans what it must.
 */
export class Store {
  readonly jobsRepo: JobQueries;
  readonly plans: PlanRepository;
  readonly environmentsRepo: EnvironmentRepository;
  readonly outbox: OutboxRepository;
  readonly coordination: Coordination;

  constructor(
    readonly db: Kysely<Database>,
    readonly engine: Engine,
  ) {
    this.jobsRepo = new JobQueries(db);
    this.plans = new PlanRepository(db, engine);
    this.environmentsRepo = new EnvironmentRepository(db);
    this.outbox = new OutboxRepository(db);
    this.coordination = new Coordination(db);
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

  // The repositories' verbs, so that callers need not know which one holds what.
  submitPlan: PlanRepository["submitPlan"] = (plan, effects) => this.plans.submitPlan(plan, effects);
  plan: PlanRepository["plan"] = (id) => this.plans.plan(id);
  latestPlan: PlanRepository["latestPlan"] = (groupKey) => this.plans.latestPlan(groupKey);
  plansAt: PlanRepository["plansAt"] = (repo, headSha) => this.plans.plansAt(repo, headSha);
  planIds: PlanRepository["planIds"] = () => this.plans.planIds();
  pruneFinishedPlans: PlanRepository["pruneFinishedPlans"] = (before) => this.plans.pruneFinishedPlans(before);
  markApprovalCheckRunRequested: PlanRepository["markApprovalCheckRunRequested"] = (planId, now) => this.plans.markApprovalCheckRunRequested(planId, now);
  setApprovalCheckRunId: PlanRepository["setApprovalCheckRunId"] = (planId, id) => this.plans.setApprovalCheckRunId(planId, id);

  job: JobQueries["job"] = (id) => this.jobsRepo.job(id);
  jobs: JobQueries["jobs"] = (filter) => this.jobsRepo.jobs(filter);
  dispatchable: JobQueries["dispatchable"] = (now, limit) => this.jobsRepo.dispatchable(now, limit);
  queuedLanes: JobQueries["queuedLanes"] = () => this.jobsRepo.queuedLanes();
  dispatchableWith: JobQueries["dispatchableWith"] = (lane, now, limit) => this.jobsRepo.dispatchableWith(lane, now, limit);
  jobsOfRun: JobQueries["jobsOfRun"] = (runId) => this.jobsRepo.jobsOfRun(runId);
  unfinishedJobsOf: JobQueries["unfinishedJobsOf"] = (repo) => this.jobsRepo.unfinishedJobsOf(repo);
  expired: JobQueries["expired"] = (now) => this.jobsRepo.expired(now);
  activeByRepo: JobQueries["activeByRepo"] = () => this.jobsRepo.activeByRepo();
  reposWithOpenWork: JobQueries["reposWithOpenWork"] = () => this.jobsRepo.reposWithOpenWork();
  recentlyFinished: JobQueries["recentlyFinished"] = (limit) => this.jobsRepo.recentlyFinished(limit);
  queuePosition: JobQueries["queuePosition"] = (job, now) => this.jobsRepo.queuePosition(job, now);
  countsByState: JobQueries["countsByState"] = () => this.jobsRepo.countsByState();
  depthByLabels: JobQueries["depthByLabels"] = () => this.jobsRepo.depthByLabels();
  durationHistogram: JobQueries["durationHistogram"] = (from, to, buckets) => this.jobsRepo.durationHistogram(from, to, buckets);
  busyByEnvironment: JobQueries["busyByEnvironment"] = () => this.jobsRepo.busyByEnvironment();
  transitions: JobQueries["transitions"] = (jobId) => this.jobsRepo.transitions(jobId);
  renewLease: JobQueries["renewLease"] = (jobId, attempt, until) => this.jobsRepo.renewLease(jobId, attempt, until);
  setRunId: JobQueries["setRunId"] = (jobId, attempt, runId) => this.jobsRepo.setRunId(jobId, attempt, runId);
  markCheckRunRequested: JobQueries["markCheckRunRequested"] = (jobId, now) => this.jobsRepo.markCheckRunRequested(jobId, now);
  setCheckRunId: JobQueries["setCheckRunId"] = (jobId, id) => this.jobsRepo.setCheckRunId(jobId, id);

  upsertEnvironments: EnvironmentRepository["upsertEnvironments"] = (envs) => this.environmentsRepo.upsertEnvironments(envs);
  setEnvironmentState: EnvironmentRepository["setEnvironmentState"] = (id, state, now) => this.environmentsRepo.setEnvironmentState(id, state, now);
  environments: EnvironmentRepository["environments"] = (pool) => this.environmentsRepo.environments(pool);

  dueOutbox: OutboxRepository["dueOutbox"] = (now, limit) => this.outbox.dueOutbox(now, limit);
  finalReportBacklog: OutboxRepository["finalReportBacklog"] = () => this.outbox.finalReportBacklog();
  outboxPending: OutboxRepository["outboxPending"] = () => this.outbox.outboxPending();
  markDelivered: OutboxRepository["markDelivered"] = (ids, now) => this.outbox.markDelivered(ids, now);
  markSending: OutboxRepository["markSending"] = (id, now) => this.outbox.markSending(id, now);
  markRetry: OutboxRepository["markRetry"] = (id, at, error, options) => this.outbox.markRetry(id, at, error, options);
  markFailed: OutboxRepository["markFailed"] = (id, now, error) => this.outbox.markFailed(id, now, error);

  acquireLock: Coordination["acquireLock"] = (name, owner, ttlMs, now) => this.coordination.acquireLock(name, owner, ttlMs, now);
  holdsLock: Coordination["holdsLock"] = (name, owner, until) => this.coordination.holdsLock(name, owner, until);
  releaseLock: Coordination["releaseLock"] = (name, owner) => this.coordination.releaseLock(name, owner);
  recordDelivery: Coordination["recordDelivery"] = (id, now) => this.coordination.recordDelivery(id, now);
  deliverySeen: Coordination["deliverySeen"] = (id) => this.coordination.deliverySeen(id);
}
