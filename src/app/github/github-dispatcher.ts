import { runTimeoutMinutes } from "../../config/limits.js";
import type { BuildHandoff } from "../../config/job-spec.js";
import { buildHandoff } from "../../orchestrator/build-handoff.js";
import { DispatchRefusedError, type CancelRequest, type DispatchBatching, type DispatchRequest, type Dispatcher } from "../../orchestrator/dispatcher.js";
import { DeferredError } from "../../orchestrator/outbox-worker.js";
import type { JobRecord, PlanRecord, Store } from "../../orchestrator/store/store.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import { isActive } from "../../orchestrator/job-state.js";
import { type Octokit, type OctokitFor, splitRepo } from "./github-api.js";
import { uniqueRunnerLabel } from "./github-runner-pool.js";

/**
 * How a job's attempt runs: as one matrix job of a run of the runner workflow, dispatched at
 * `ref` (the repository's default branch) for its whole batch, and named `runName` after
 * the batch's first job. The dispatcher starts it, and the report route checks a run's OIDC
 * token against it.
 */
export function runnerRun(plan: Pick<PlanRecord, "defaultRef">, job: Pick<JobRecord, "id" | "attempt" | "batchKey">): { ref: string; runName: string } {
  const lead = job.batchKey !== null ? leadOf(job.batchKey) : job;
  return { ref: plan.defaultRef ?? "main", runName: `kto ${lead.id} attempt ${lead.attempt}` };
}

/** The job whose attempt names a batch: `<id>#<attempt>`, split at the last `#` (an id may hold one). */
function leadOf(batchKey: string): { id: string; attempt: number } {
  const at = batchKey.lastIndexOf("#");
  return { id: batchKey.slice(0, at), attempt: Number(batchKey.slice(at + 1)) };
}

/**
 * The run GitHub started for a job's attempt, looked up by its run-name, or null while
 * GitHub does not list it: for attempts whose dispatch answer had no run id (GHES), or has
 * not come back yet.
 */
export type FindRun = (job: JobRecord, plan: PlanRecord) => Promise<string | null>;

/** The `runs-on` a job leased to a runner with `labels` is dispatched with: that runner's own label where it has one. */
export function runsOn(labels: readonly string[]): string[] {
  const unique = uniqueRunnerLabel(labels);
  return unique ? ["self-hosted", unique] : [...labels];
}

/** GitHub's limit on a dispatch's inputs, all of them together, counted here as the JSON they are sent as. */
export const INPUTS_CHARS = 65_535;
/** GitHub's limit on the jobs a matrix makes. */
export const MATRIX_JOBS = 256;
/** Room in the inputs for the run's name, the commit, the App's URL and the JSON around them. */
const INPUTS_OVERHEAD_CHARS = 2_048;
/** What a build's handoff (its run, artifact and digests) may add to a job's entry, known only as it is sent. */
const HANDOFF_CHARS = 4_096;

/** One matrix job of a run: what the runner workflow reads from `matrix`. */
interface MatrixEntry {
  /** The workflow job's name in the Actions UI: the job's own id. */
  name: string;
  job: { id: string; attempt: number; spec: JobRecord["spec"]; timeoutMinutes: number; build?: BuildHandoff; trusted: boolean };
  runs_on: string[];
}

function matrixEntry(job: JobRecord, plan: PlanRecord, runnerLabels: readonly string[], build: BuildHandoff | null): MatrixEntry {
  return {
    name: job.spec.id,
    job: {
      id: job.id,
      attempt: job.attempt,
      spec: job.spec,
      // The runner workflow reads its timeout-minutes from here: GitHub's expressions cannot add.
      timeoutMinutes: runTimeoutMinutes(job.spec.timeoutMs),
      ...(build ? { build } : {}),
      trusted: plan.trusted,
    },
    runs_on: runsOn(runnerLabels),
  };
}

/** What an entry adds to the inputs as sent: the matrix is JSON inside the inputs' JSON, so its quotes and backslashes count twice. */
function entryChars(entry: MatrixEntry): number {
  return JSON.stringify(JSON.stringify(entry)).length - 1;
}

/**
 * Refuses, before anything is sent, a dispatch GitHub would refuse whatever the retry: its
 * jobs could never run, so they fail at once, saying why.
 */
function checkInputs(inputs: Record<string, string>, maxInputs: number, jobs: number): void {
  const count = Object.keys(inputs).length;
  if (count > maxInputs)
    throw new DispatchRefusedError(`kto cannot dispatch this job: the runner workflow takes ${count} inputs and this GitHub at most ${maxInputs}`);
  const chars = JSON.stringify(inputs).length;
  if (chars > INPUTS_CHARS) {
    throw new DispatchRefusedError(
      jobs === 1
        ? `kto cannot dispatch this job: its workflow inputs come to ${chars} characters as JSON; GitHub takes at most 65,535. Make the suite's command, env or matrix values shorter (quotes and backslashes count twice, as the job's JSON is sent inside the inputs' JSON)`
        : `kto cannot dispatch these ${jobs} jobs as one run: their workflow inputs come to ${chars} characters as JSON; GitHub takes at most 65,535`,
    );
  }
}

/**
 * GitHub's clock and kto's may differ: a run listed as created up to this long before kto
 * sent its dispatch may still be its. (The App's host keeps its clock in sync, as approvals
 * by comment already need.)
 */
const CLOCK_SKEW_MS = 60_000;
/** How long after a try that may have started a run kto keeps looking for it through failing lookups, before the dispatch fails. */
const MAX_LOOKUP_RETRY_MS = 30 * 60_000;

export interface GitHubDispatcherOptions {
  workflow: string;
  appUrl: string;
  /** Ask for the run's id in the dispatch's answer (github.com); GitHub Enterprise Server refuses the parameter. */
  runDetails: boolean;
  /** How many inputs a dispatch may carry: 25 on github.com, 10 on GitHub Enterprise Server. */
  maxInputs: number;
  /** At most how many jobs one run carries as its matrix (GitHub's limit is 256); 1 dispatches each job alone. */
  batchJobs: number;
  /** The user the App's installations act as (`<slug>[bot]`): only runs it started are kto's. */
  botLogin: () => Promise<string>;
  /**
   * After a try that may have started the run (its answer was lost), how long GitHub may
   * take to list the run before kto takes it as not started and dispatches again.
   */
  lookupWindowMs: number;
  /** How long apart the lookups go within that window. */
  lookupDelayMs: number;
  now: () => number;
  /** Where it says what it left for later (a run it dispatched and could not look up). */
  log?: (line: string) => void;
}

/** What the dispatcher reads: a job's plan, and the runner it was leased. */
export interface DispatcherStore {
  jobs: Pick<Store["jobs"], "job" | "jobsOfBatch">;
  plans: Pick<Store["plans"], "plan">;
  runners: Pick<Store["runners"], "list">;
}

/**
 * Starts a scheduling pass's jobs of one plan as one run of the runner workflow, each a job
 * of its matrix bound to the exact runner it was leased: its `runs_on` carries that
 * runner's unique label, so GitHub cannot hand it to another. One run for many jobs is
 * what keeps kto within GitHub's limit on content-creating requests.
 */
const CANCELLED_KEPT_MS = 3_600_000;

/**
 * GitHub's 422 for inputs the workflow at `ref` does not declare, or a required one left
 * out: the repository's runner workflow is not the one this kto sends runs to (a copy from
 * an earlier kto, or edited). No retry changes that, so the jobs end saying what to fix.
 */
function workflowRefusal(error: unknown, workflow: string, ref: string): DispatchRefusedError | null {
  const message = error instanceof Error ? error.message : "";
  if (httpStatusOf(error) !== 422 || !/Unexpected inputs provided|Required input '.*' not provided/.test(message)) return null;
  return new DispatchRefusedError(
    `kto cannot dispatch this job: .github/workflows/${workflow} at ${ref} does not take the inputs this kto sends (GitHub: ${message.split(" - ")[0]}); replace it with self-hosted/kto-runner.yml of this kto's version`,
  );
}

export class GitHubDispatcher implements Dispatcher {
  readonly batching: DispatchBatching;
  /**
   * Runs this process cancelled in the last hour, by id: a batch whose jobs all end at once
   * (a superseded plan) sends one cancel per job, and each after the first would be a write
   * for a run already cancelled. After a restart one more may go, which GitHub answers 409.
   */
  private readonly cancelledRuns = new Map<string, number>();

  constructor(
    private readonly store: DispatcherStore,
    private readonly octokitFor: OctokitFor,
    private readonly options: GitHubDispatcherOptions,
  ) {
    this.batching = {
      maxJobs: Math.max(1, Math.min(MATRIX_JOBS, options.batchJobs)),
      maxChars: INPUTS_CHARS - INPUTS_OVERHEAD_CHARS - options.appUrl.length,
      entryChars: (lease, plan) => entryChars(matrixEntry(lease.job, plan, lease.runnerLabels, null)) + 1 + (lease.job.needsJobId ? HANDOFF_CHARS : 0),
      // A run is one plan's: its jobs share a commit and a trust decision, and its cancel ends only them.
      groupOf: (plan) => plan.id,
    };
  }

  async dispatch({ entries, sentAt }: DispatchRequest): Promise<{ runId: string | null }> {
    const lead = entries[0]!.job;
    const plan = await this.store.plans.plan(lead.planId);
    if (!plan?.installationId || !plan.repo || !plan.headSha) throw new Error(`plan ${lead.planId} has no repository to dispatch to`);
    if (entries.some(({ job }) => job.planId !== plan.id)) throw new Error(`dispatch ${lead.batchKey ?? lead.id} mixes jobs of several plans`);
    const runners = await this.store.runners.list();
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    const { ref, runName } = runnerRun(plan, lead);
    // The dispatch API has no idempotency key: a run that an earlier try started is found by its run-name.
    if (sentAt !== null) {
      // An earlier try may have started the run: until it is found or shown not to exist,
      // a lookup that fails is tried again, never a reason to fail the job into another
      // attempt beside a run that may be there.
      const existing = await this.lookUp(octokit, owner, repo, runName, sentAt).catch((error: unknown) => {
        if (error instanceof DeferredError || this.options.now() > sentAt + MAX_LOOKUP_RETRY_MS) throw error;
        throw new DeferredError(
          `looking for the run "${runName}" failed (${(error as Error).message}); looking again`,
          this.options.now() + this.options.lookupDelayMs,
        );
      });
      if (existing) return { runId: existing };
      const now = this.options.now();
      if (now < sentAt + this.options.lookupWindowMs)
        throw new DeferredError(
          `the run "${runName}" may have started and is not listed yet; looking again before dispatching`,
          now + this.options.lookupDelayMs,
        );
    }
    const matrix: MatrixEntry[] = [];
    for (const { job, runnerId } of entries) {
      const runner = runners.find((r) => r.id === runnerId);
      if (!runner) throw new Error(`runner ${runnerId} is gone`);
      // A build's handoff goes inside its job's entry, so it takes no input of its own (GHES allows 10).
      matrix.push(matrixEntry(job, plan, runner.labels, await this.handoffOf(job)));
    }
    const inputs = { run_name: runName, jobs: JSON.stringify(matrix), sha: plan.headSha, app_url: this.options.appUrl };
    checkInputs(inputs, this.options.maxInputs, matrix.length);
    const { data } = await octokit
      .request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
        owner,
        repo,
        workflow_id: this.options.workflow,
        ref,
        ...(this.options.runDetails ? { return_run_details: true } : {}),
        inputs,
      })
      .catch((error: unknown) => {
        throw workflowRefusal(error, this.options.workflow, ref) ?? error;
      });
    const runId = (data as { workflow_run_id?: number } | undefined)?.workflow_run_id;
    if (runId) return { runId: String(runId) };
    // Without run details (GitHub Enterprise Server) the answer is a 204: the run is looked
    // up by its run-name now; one GitHub does not list yet, or whose lookup fails (a limit
    // answered it, a 502), is looked up when it first reports, or is cancelled. The run has
    // started either way: a failed lookup must not make the dispatch look unsent, or it
    // would go again.
    const found = await this.lookUp(octokit, owner, repo, runName, this.options.now()).catch((error: unknown) => {
      this.options.log?.(`the run "${runName}" was dispatched; looking it up failed (${(error as Error).message}), so it is looked up when it first reports`);
      return null;
    });
    return { runId: found };
  }

  /** For a job that boots a build, where that build's outputs are; a build no longer known cannot be booted. */
  private async handoffOf(job: JobRecord): Promise<BuildHandoff | null> {
    if (!job.needsJobId) return null;
    const build = await this.store.jobs.job(job.needsJobId);
    if (!build) throw new DispatchRefusedError(`kto cannot dispatch this job: the build it boots (${job.needsJobId}) is no longer known`);
    return buildHandoff(build);
  }

  /** The run GitHub started for a job's attempt, or null while GitHub does not list it. */
  async findRun(job: JobRecord, plan: PlanRecord): Promise<string | null> {
    if (!plan.installationId || !plan.repo) return null;
    const { owner, repo } = splitRepo(plan.repo);
    return this.lookUp(await this.octokitFor(plan.installationId), owner, repo, runnerRun(plan, job).runName, job.dispatchedAt ?? job.createdAt);
  }

  /**
   * The run named `runName` that the App's bot started: whoever else may dispatch the
   * workflow can start a run of that name too, so the name alone proves nothing. GitHub
   * lists the newest first: the pages end at the first that has the run (of the bot's
   * runs of that name on it, a dispatch sent twice, the oldest is taken), or at runs
   * created before `since` (the first try), which cannot be it.
   */
  private async lookUp(octokit: Octokit, owner: string, repo: string, runName: string, since: number): Promise<string | null> {
    const bot = await this.options.botLogin();
    for await (const { data } of octokit.paginate.iterator(octokit.rest.actions.listWorkflowRuns, {
      owner,
      repo,
      workflow_id: this.options.workflow,
      event: "workflow_dispatch",
      per_page: 100,
    })) {
      const ours = data.filter((run) => run.display_title === runName && (run.triggering_actor ?? run.actor)?.login === bot);
      if (ours.length > 0) return String(ours.at(-1)!.id);
      const last = data.at(-1);
      if (!last || Date.parse(last.created_at) < since - CLOCK_SKEW_MS) return null;
    }
    return null;
  }

  async cancel({ jobId, attempt, runId, batchKey }: CancelRequest): Promise<void> {
    const job = await this.store.jobs.job(jobId);
    const plan = job ? await this.store.plans.plan(job.planId) : null;
    if (!job || !plan?.installationId || !plan.repo) return;
    // Cancelling a batch's run would cancel its other jobs too: while one of them is still
    // under way in that batch, this job stops when the App answers its next report (it is no
    // longer running). The batch is the attempt's, which the job may have left since.
    if (batchKey !== null && (await this.store.jobs.jobsOfBatch(batchKey)).some((other) => other.id !== jobId && isActive(other.state))) return;
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    // A run dispatched without run details that never reported: found by its run-name, if GitHub lists it.
    const id = runId ?? (await this.lookUp(octokit, owner, repo, runnerRun(plan, { id: jobId, attempt, batchKey }).runName, job.dispatchedAt ?? job.createdAt));
    if (id === null) return;
    const now = this.options.now();
    for (const [run, at] of this.cancelledRuns) if (now - at > CANCELLED_KEPT_MS) this.cancelledRuns.delete(run);
    if (this.cancelledRuns.has(id)) return;
    try {
      await octokit.rest.actions.cancelWorkflowRun({ owner, repo, run_id: Number(id) });
    } catch (error) {
      // 409: the run already finished; nothing to cancel.
      if (httpStatusOf(error) !== 409) throw error;
    }
    this.cancelledRuns.set(id, now);
  }
}
