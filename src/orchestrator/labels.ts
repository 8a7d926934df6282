/** A job fits a runner when the runner has every label the job asks for. */
export function labelsFit(jobLabels: readonly string[], runnerLabels: ReadonlySet<string> | readonly string[]): boolean {
  const have = runnerLabels instanceof Set ? runnerLabels : new Set(runnerLabels);
  return jobLabels.every((label) => have.has(label));
}

export function labelKey(labels: readonly string[]): string {
  return [...labels].sort().join(",");
}
