import type { Kysely, Selectable, Transaction, Updateable } from "kysely";
import type { JobSpec, Outcome } from "../../config/job-spec.js";
import type { JobState } from "../job-state.js";
import type { RunnerScope } from "../scope.js";
import type { Database, RunnersTable, RunnerState, JobsTable, OutboxKind, PlansTable } from "./schema.js";

export interface JobRecord {
  seq: number;
  id: string;
  planId: string;
  name: string;
  repo: string | null;
  /** Whether its repository is private (or internal): null where kto does not know, which counts as public. */
  repoPrivate: boolean | null;
  spec: JobSpec;
  labels: string[];
  priority: number;
  state: JobState;
  attempt: number;
  maxAttempts: number;
  retriesLeft: number;
  /** Attempts whose tests failed and that the suite's retries ran again: a later pass is flaky. */
  failedAttempts: number;
  flaky: boolean;
  notBefore: number;
  runnerId: string | null;
  leaseExpires: number | null;
  deadline: number | null;
  runId: string | null;
  outcome: Outcome | null;
  reason: string | null;
  result: unknown;
  createdAt: number;
  queuedAt: number;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  checkRunId: number | null;
  /** When its check run's create was sent: with no id known, GitHub may have made it and the answer been lost. */
  checkRunRequestedAt: number | null;
  /** The store id of the build job whose outputs it boots; null for a job that boots no build. */
  needsJobId: string | null;
  /** The batch its latest attempt was dispatched in: the jobs leased together in one pass, one run. */
  batchKey: string | null;
}

/** A plan's approval check runs: the one that holds it, and the newer one that says the hold ended. */
export type ApprovalPhase = "hold" | "end";

export interface PlanRecord {
  id: string;
  source: string;
  workspace: string;
  outDir: string | null;
  repo: string | null;
  groupKey: string | null;
  installationId: number | null;
  headSha: string | null;
  defaultRef: string | null;
  createdAt: number;
  approvalCheckRunId: number | null;
  approvalCheckRunRequestedAt: number | null;
  /** The newer approval check run that says the hold ended; GitHub shows the newest of a name. */
  approvalEndCheckRunId: number | null;
  approvalEndCheckRunRequestedAt: number | null;
  /** Whether the App's trust gate let it run without a maintainer's approval. */
  trusted: boolean;
  /** Why the gate let it run or held it; null for a plan the gate did not see (a local run's). */
  gateReason: string | null;
  /** The branch its results are judged against: a pull request's base when planned, a branch's own name; null for a local run's. */
  baseRef: string | null;
}

export interface RunnerRecord {
  id: string;
  pool: string;
  labels: string[];
  capacity: number;
  state: RunnerState;
  lastSeen: number;
  /** The kto process whose runner it is (a local run's machine): its jobs are given back when that process stops. */
  owner?: string | null;
  /** Which repositories' jobs it may take: every pool says, there is no default. */
  scope: RunnerScope;
}

export interface OutboxRecord {
  id: number;
  jobId: string;
  kind: OutboxKind;
  key: string;
  payload: unknown;
  attempts: number;
  nextAttemptAt: number;
  priority: number;
  /** When an earlier try was sent, or may have been (a crash before its outcome was recorded); null if none was. */
  sentAt: number | null;
  createdAt: number;
  /** The GitHub installation it acts as (App plans); null locally. */
  installationId: number | null;
  /** Why its last try did not land, or why it was put off: kept with the effect until it goes out. */
  lastError: string | null;
}

export interface Effect {
  kind: OutboxKind;
  /** Unique per side effect: a redelivery carries the same key, so the receiver can drop it. */
  key: string;
  payload: unknown;
  /** Higher goes out first (effectPriority); 0 when not given. */
  priority?: number;
  /** Whose effect it is, when not the transitioning job's: a plan's approval check run. */
  jobId?: string;
}

export type JobPatch = Omit<Updateable<JobsTable>, "seq" | "id" | "state" | "plan_id">;

export interface TransitionRequest {
  jobId: string;
  to: JobState;
  /** Apply only from these states (default: every state the machine allows). */
  from?: readonly JobState[];
  /** Apply only at this attempt: a late report from an older attempt changes nothing. */
  attempt?: number;
  set?: JobPatch;
  reason?: string;
  effects?: Effect[];
  /** PostgreSQL: skip a job another transaction holds instead of waiting for it (claims). */
  skipLocked?: boolean;
  /** What the move of each dependent this transition releases or skips implies (its check run); none when absent. */
  released?: ReleaseEffects;
  now: number;
}

/** A job waiting for a build, as it was before that build's end moved it. */
export type DependentJob = Pick<JobRecord, "id" | "planId" | "attempt">;

/** The side effects of a dependent's move to `to` (queued or skipped) when its build ends. */
export type ReleaseEffects = (job: DependentJob, to: JobState) => Effect[];

export interface NewJob {
  id: string;
  name: string;
  spec: JobSpec;
  labels: string[];
  priority: number;
  maxAttempts: number;
  retries: number;
  /**
   * The store id of the build job it boots, when that build is not in its plan (a re-run
   * reusing an earlier plan's build). Absent, a build the spec names (`buildNeeded`) is
   * the plan's job of that id.
   */
  needsJobId?: string;
}

export interface NewPlan {
  id: string;
  source: string;
  workspace: string;
  groupKey?: string;
  repo?: string;
  /** Whether `repo` is private (or internal), as the event that asked for the plan says. */
  repoPrivate?: boolean | null;
  outDir?: string;
  installationId?: number;
  headSha?: string;
  defaultRef?: string;
  /** The branch its results are judged against (PlanRecord.baseRef). */
  baseRef?: string;
  /** Its jobs are shown where people look (the App's check runs): each transition records a report effect. */
  publish?: boolean;
  jobs: NewJob[];
  /** Jobs of untrusted plans wait in awaiting_approval. */
  approved: boolean;
  /** Why they wait, shown to the people who can approve. */
  approvalReason?: string;
  /** Why the App's trust gate let the plan run or held it: kept with the plan, so that a re-run is gated as the plan was. */
  gateReason?: string;
  /** The webhook delivery the plan answers: recorded with it, so a redelivery makes no second plan. */
  deliveryId?: string;
  now: number;
}

export type Db = Kysely<Database> | Transaction<Database>;

export function toJob(row: Selectable<JobsTable>): JobRecord {
  return {
    seq: Number(row.seq),
    id: row.id,
    planId: row.plan_id,
    name: row.name,
    repo: row.repo,
    repoPrivate: row.repo_private === null ? null : row.repo_private === 1,
    spec: JSON.parse(row.spec) as JobSpec,
    labels: JSON.parse(row.labels) as string[],
    priority: row.priority,
    state: row.state,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    retriesLeft: row.retries_left,
    failedAttempts: row.failed_attempts,
    flaky: row.flaky === 1,
    notBefore: row.not_before,
    runnerId: row.runner_id,
    leaseExpires: row.lease_expires,
    deadline: row.deadline,
    runId: row.run_id,
    outcome: row.outcome,
    reason: row.reason,
    result: row.result === null ? null : JSON.parse(row.result),
    createdAt: row.created_at,
    queuedAt: row.queued_at,
    dispatchedAt: row.dispatched_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    checkRunId: row.check_run_id === null ? null : Number(row.check_run_id),
    checkRunRequestedAt: row.check_run_requested_at === null ? null : Number(row.check_run_requested_at),
    needsJobId: row.needs_job_id ?? null,
    batchKey: row.batch_key ?? null,
  };
}

export function toPlan(row: Selectable<PlansTable>): PlanRecord {
  return {
    id: row.id,
    source: row.source,
    workspace: row.workspace,
    outDir: row.out_dir,
    repo: row.repo,
    groupKey: row.group_key,
    installationId: row.installation_id === null ? null : Number(row.installation_id),
    headSha: row.head_sha,
    defaultRef: row.default_ref,
    createdAt: row.created_at,
    approvalCheckRunId: row.approval_check_run_id === null ? null : Number(row.approval_check_run_id),
    approvalCheckRunRequestedAt: row.approval_check_run_requested_at === null ? null : Number(row.approval_check_run_requested_at),
    approvalEndCheckRunId: row.approval_end_check_run_id === null ? null : Number(row.approval_end_check_run_id),
    approvalEndCheckRunRequestedAt: row.approval_end_check_run_requested_at === null ? null : Number(row.approval_end_check_run_requested_at),
    trusted: row.trusted === 1,
    gateReason: row.gate_reason,
    baseRef: row.base_ref ?? null,
  };
}

export function toRunner(row: Selectable<RunnersTable>): RunnerRecord {
  return {
    id: row.id,
    pool: row.pool,
    labels: JSON.parse(row.labels) as string[],
    capacity: row.capacity,
    state: row.state,
    lastSeen: row.last_seen,
    owner: row.owner,
    scope: JSON.parse(row.scope) as RunnerScope,
  };
}

/** What an older plan's job looks like to the plan that supersedes it. */
export type SupersededJob = Pick<JobRecord, "id" | "planId" | "state" | "attempt" | "runId" | "runnerId" | "batchKey">;

/**
 * The side effects a submitted plan implies, built by the job lifecycle (the one place
 * effects are made) and recorded by the store in the plan's transaction.
 */
export interface PlanEffects {
  /** For a job of an older plan in the group, cancelled by `planId`. */
  superseded(job: SupersededJob, planId: string): Effect[];
  /** For each new job, queued, waiting for its build or waiting for approval. */
  submitted(job: { id: string; planId: string; state: JobState }): Effect[];
  /** For a job whose build ends in the plan's transaction (a re-run's build that had already ended). */
  released: ReleaseEffects;
}
