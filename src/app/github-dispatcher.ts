import { DispatchRefusedError, type CancelRequest, type DispatchRequest, type Dispatcher } from "../orchestrator/dispatcher.js";
import type { Store } from "../orchestrator/store/store.js";
import { splitRepo, type OctokitFor } from "./github-api.js";
import { runnerOf, uniqueRunnerLabel } from "./github-runner-pool.js";

/** GitHub's limit on a dispatch's inputs, all of them together, counted here as the JSON they are sent as. */
export const INPUTS_CHARS = 65_535;

/**
 * Refuses, before anything is sent, a dispatch GitHub would refuse whatever the retry: its
 * job could never run, so it fails at once, saying why.
 */
function checkInputs(inputs: Record<string, string>, maxInputs: number): void {
  const count = Object.keys(inputs).length;
  if (count > maxInputs) throw new DispatchRefusedError(`kto cannot dispatch this job: the runner workflow takes ${count} inputs and this GitHub at most ${maxInputs}`);
  const chars = JSON.stringify(inputs).length;
  if (chars > INPUTS_CHARS) {
    throw new DispatchRefusedError(
      `kto cannot dispatch this job: its workflow inputs come to ${chars} characters as JSON; GitHub takes at most 65,535. Make the suite's command, env or matrix values shorter (quotes and backslashes count twice, as the job's JSON is sent inside the inputs' JSON)`,
    );
  }
}

export interface GitHubDispatcherOptions {
  workflow: string;
  appUrl: string;
  /** Ask for the run's id in the dispatch's answer (github.com); GitHub Enterprise Server refuses the parameter. */
  runDetails: boolean;
  /** How many inputs a dispatch may carry: 25 on github.com, 10 on GitHub Enterprise Server. */
  maxInputs: number;
  /** Looking a run up by run-name: how often, and how long apart (the run appears after a moment). */
  lookupAttempts: number;
  lookupDelayMs: number;
}

/**
 * Starts a job as a run of the runner workflow, bound to the exact runner it was leased:
 * `runs_on` carries that runner's unique label, so GitHub cannot hand it to another.
 */
export class GitHubDispatcher implements Dispatcher {
  constructor(
    private readonly store: Store,
    private readonly octokitFor: OctokitFor,
    private readonly options: GitHubDispatcherOptions,
  ) {}

  async dispatch({ job, envId, maybeSent }: DispatchRequest): Promise<{ runId: string }> {
    const plan = await this.store.plan(job.planId);
    if (!plan?.installationId || !plan.repo || !plan.headSha) throw new Error(`plan ${job.planId} has no repository to dispatch to`);
    const env = (await this.store.environments()).find((e) => e.id === envId);
    if (!env) throw new Error(`environment ${envId} is gone`);
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    const runName = `kto ${job.id} attempt ${job.attempt}`;
    // The dispatch API has no idempotency key: a run that an earlier try started is found by its run-name.
    if (maybeSent) {
      const existing = await this.findByRunName(octokit, owner, repo, runName, 1);
      if (existing) return { runId: existing };
    }
    const unique = uniqueRunnerLabel(env.labels);
    const inputs = {
      job: JSON.stringify({ id: job.id, attempt: job.attempt, spec: job.spec }),
      runs_on: JSON.stringify(unique ? ["self-hosted", unique] : env.labels),
      sha: plan.headSha,
      app_url: this.options.appUrl,
    };
    checkInputs(inputs, this.options.maxInputs);
    const { data } = await octokit.request("POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches", {
      owner,
      repo,
      workflow_id: this.options.workflow,
      ref: plan.defaultRef ?? "main",
      ...(this.options.runDetails ? { return_run_details: true } : {}),
      inputs,
    });
    const runId = (data as { workflow_run_id?: number } | undefined)?.workflow_run_id;
    if (runId) return { runId: String(runId) };
    // Without run details (GitHub Enterprise Server) the answer is a 204: find the run by its run-name, which
    // the runner workflow sets to "kto <job> attempt <n>".
    const found = await this.findByRunName(octokit, owner, repo, runName, this.options.lookupAttempts);
    return { runId: found ?? `pending:${runnerOf(envId)}` };
  }

  private async findByRunName(octokit: Awaited<ReturnType<OctokitFor>>, owner: string, repo: string, name: string, attempts: number): Promise<string | null> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const { data } = await octokit.rest.actions.listWorkflowRuns({ owner, repo, workflow_id: this.options.workflow, event: "workflow_dispatch", per_page: 50 });
      const run = data.workflow_runs.find((r) => r.display_title === name);
      if (run) return String(run.id);
      if (attempt + 1 < attempts) await new Promise((resolve) => setTimeout(resolve, this.options.lookupDelayMs));
    }
    return null;
  }

  async cancel({ jobId, runId }: CancelRequest): Promise<void> {
    if (!runId || !/^\d+$/.test(runId)) return;
    const job = await this.store.job(jobId);
    const plan = job ? await this.store.plan(job.planId) : null;
    if (!plan?.installationId || !plan.repo) return;
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    try {
      await octokit.rest.actions.cancelWorkflowRun({ owner, repo, run_id: Number(runId) });
    } catch (error) {
      // 409: the run already finished; nothing to cancel.
      if ((error as { status?: number }).status !== 409) throw error;
    }
  }
}
