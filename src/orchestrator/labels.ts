/** A job fits an environment when the environment has every label the job asks for. */
export function labelsFit(jobLabels: readonly string[], envLabels: ReadonlySet<string> | readonly string[]): boolean {
  const have = envLabels instanceof Set ? envLabels : new Set(envLabels);
  return jobLabels.every((label) => have.has(label));
}

export function labelKey(labels: readonly string[]): string {
  return [...labels].sort().join(",");
}
