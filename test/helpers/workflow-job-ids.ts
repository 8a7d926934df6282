/**
 * The id GitHub gives one job of a workflow run: a run of a matrix has one per entry, each
 * on its own runner, so a stand-in host names a job by its run and its runner.
 */
export function workflowJobId(runId: number, runnerId: number): number {
  return runId * 100_000 + (runnerId % 100_000);
}

/** A workflow_job delivery's id: GitHub sends one for each job's each move. */
export function workflowJobDelivery(runId: number, runnerId: number, action: string): string {
  return `wj-${runId}-${runnerId}-${action}`;
}
