import type { Generated } from "kysely";
import type { Outcome } from "../../config/job-spec.js";
import type { JobState } from "../job-state.js";

export type RunnerState = "online" | "offline";
/** "approval" is a plan's: its job_id is the plan's id. */
export type OutboxKind = "dispatch" | "cancel" | "publish" | "approval";

export interface PlansTable {
  id: string;
  source: string;
  /** Plans sharing a group (one pull request) replace each other: a newer one cancels the older. */
  group_key: string | null;
  repo: string | null;
  workspace: string;
  /** Where a local run writes its results folder; null for App plans. */
  out_dir: string | null;
  /** App plans: the installation to act as, the commit under test, the branch the runner workflow lives on. */
  installation_id: number | null;
  head_sha: string | null;
  default_ref: string | null;
  created_at: number;
  /** The one check run a plan waiting for approval shows as. */
  approval_check_run_id: number | null;
  approval_check_run_requested_at: number | null;
  /** The check run that says the hold ended (approved, or not run): a newer one of the same name. */
  approval_end_check_run_id: number | null;
  approval_end_check_run_requested_at: number | null;
  /** 1 when the App's trust gate let the plan run without a maintainer's approval. */
  trusted: number;
  /** Why the gate let it run or held it. */
  gate_reason: string | null;
  /** A pull request's base branch when the plan was made: what its results are judged against. */
  base_ref: Generated<string | null>;
}

export interface JobsTable {
  seq: Generated<number>;
  id: string;
  plan_id: string;
  name: string;
  repo: string | null;
  /** 1 for a private (or internal) repository, 0 for a public one, null where kto does not know (local plans, jobs from before it asked). */
  repo_private: number | null;
  /** The JobSpec as JSON. */
  spec: string;
  /** Sorted JSON array of the labels a runner must have. */
  labels: string;
  priority: number;
  state: JobState;
  attempt: number;
  /** Attempts allowed for infrastructure failures. */
  max_attempts: number;
  /** Test-failure retries still allowed (the suite's `retries`). */
  retries_left: number;
  failed_attempts: Generated<number>;
  flaky: number;
  not_before: number;
  runner_id: string | null;
  lease_expires: number | null;
  deadline: number | null;
  run_id: string | null;
  outcome: Outcome | null;
  reason: string | null;
  result: string | null;
  created_at: number;
  queued_at: number;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  check_run_id: number | null;
  /** When its check run's create was first sent: from then on a missing id may be GitHub's answer lost. */
  check_run_requested_at: number | null;
  /** The build job whose outputs it boots: it waits for that build, and is skipped when it does not succeed. */
  needs_job_id: Generated<string | null>;
  /** The dispatch its latest attempt went out in (`<first job id>#<attempt>`); null before its first lease. */
  batch_key: Generated<string | null>;
}

export interface RunnersTable {
  id: string;
  pool: string;
  labels: string;
  capacity: number;
  state: RunnerState;
  last_seen: number;
  owner: string | null;
  /** The RunnerScope as JSON: which repositories' jobs it may take. */
  scope: string;
}

export interface OutboxTable {
  id: Generated<number>;
  job_id: string;
  kind: OutboxKind;
  idempotency_key: string;
  payload: string;
  attempts: number;
  next_attempt_at: number;
  /** Higher goes first: what unblocks hardware before what people read. */
  priority: Generated<number>;
  /** When a try may first have reached the far side. */
  sent_at: number | null;
  done_at: number | null;
  failed_at: number | null;
  last_error: string | null;
  created_at: number;
}

export interface TransitionsTable {
  id: Generated<number>;
  job_id: string;
  attempt: number;
  from_state: JobState | null;
  to_state: JobState;
  at: number;
  reason: string | null;
}

/** A finished attempt's results, kept across commits (migration 014). */
export interface ResultRunsTable {
  id: Generated<number>;
  repo: string;
  sha: string;
  /** The job as history tells jobs apart: its suite and matrix values. */
  job_key: string;
  job_id: string;
  attempt: number;
  plan_id: string;
  group_key: string | null;
  /** The branch whose baseline it may be; null for a run that is no branch's (a pull request's). */
  baseline_ref: string | null;
  /** 1 once the job's end was recorded with these results. */
  accepted: Generated<number>;
  /** The job's results.json entry as JSON, without its cases. */
  entry: string;
  failed_cases: number;
  case_count: number;
  finished_at: number;
  /** What its judgement compared it with, as JSON (`JudgedBaseline`); null until judged. */
  judged_baseline: string | null;
}

export interface ResultCasesTable {
  run_id: number;
  /** The case's place in its run's results: identities repeat, and the order tells them apart. */
  ord: number;
  /** What history compares tests by, across runs. */
  test_key: string;
  /** The levels above the case, as a JSON array. */
  path: string;
  name: string;
  status: string;
  duration_ms: number | null;
}

/** A bisection asked for from a regression's check run (migration 015): one per job and first good commit, besides those cancelled (017). */
export interface BisectionsTable {
  id: string;
  repo: string;
  installation_id: number;
  /** The job as history tells jobs apart (suite and matrix), and its suite, which each step plans. */
  job_key: string;
  suite: string;
  good_sha: string;
  bad_sha: string;
  /** The regressed tests' identity keys, as a JSON array: a step fails when any of them fails. */
  tests: string;
  /** The commits after good up to bad, oldest first, as a JSON array of {sha, title, author}. */
  commits: string;
  /** The steps so far and the one under way, and who cancelled it, as JSON: its every change is compared and set. */
  state: string;
  /** running, found, inconclusive or cancelled. */
  status: string;
  started_by: string;
  check_run_id: number | null;
  created_at: number;
}

export interface LocksTable {
  name: string;
  owner: string;
  expires_at: number;
}

export interface DeliveriesTable {
  id: string;
  at: number;
}

/** An installation's standing with GitHub's limits (installation 0: the App's own calls). */
export interface GitHubStandingTable {
  installation_id: number;
  /** Until when GitHub asked it to wait, and which limit did; 0 and null when it need not. */
  paused_until: Generated<number>;
  paused_by: string | null;
  /** Secondary limit answers in a row, each pausing twice as long as the one before. */
  secondary_strikes: Generated<number>;
  /** When the last secondary pause ended (or ends). */
  secondary_until: Generated<number>;
}

/** One request sent, as GitHub's secondary limits count it. */
export interface GitHubSpendsTable {
  id: Generated<number>;
  installation_id: number;
  at: number;
  points: number;
  creates_content: number;
}

export interface Database {
  deliveries: DeliveriesTable;
  plans: PlansTable;
  jobs: JobsTable;
  runners: RunnersTable;
  outbox: OutboxTable;
  transitions: TransitionsTable;
  locks: LocksTable;
  github_standing: GitHubStandingTable;
  github_spends: GitHubSpendsTable;
  result_runs: ResultRunsTable;
  result_cases: ResultCasesTable;
  bisections: BisectionsTable;
}
