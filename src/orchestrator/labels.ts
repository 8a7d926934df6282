/**
 * A job fits a runner when the runner has every label the job asks for. GitHub compares
 * labels without regard to case (a job asking for `KVM` runs on a runner labelled `kvm`),
 * so kto does too: else it would hold a job GitHub would have run.
 */
export function labelsFit(jobLabels: readonly string[], runnerLabels: Iterable<string>): boolean {
  const have = new Set([...runnerLabels].map((label) => label.toLowerCase()));
  return jobLabels.every((label) => have.has(label.toLowerCase()));
}

/** One key for a set of labels, however each is cased or ordered. */
export function labelKey(labels: readonly string[]): string {
  return [...new Set(labels.map((label) => label.toLowerCase()))].sort().join(",");
}

/**
 * Provisioning gives every runner a label of its own, `kto-runner-<name>`, and dispatch
 * binds a job to it; no job asks for one, so two runners that differ only in it take the
 * same jobs.
 */
export const RUNNER_LABEL_PREFIX = "kto-runner-";

/** The labels that say which jobs a runner takes: all but its own `kto-runner-<name>`. */
export function classLabels(labels: readonly string[]): string[] {
  return labels.filter((label) => !label.toLowerCase().startsWith(RUNNER_LABEL_PREFIX));
}

/**
 * The host a runner runs on, from its own label: the runner host service names each
 * ephemeral runner `<host>-<instance>-<6 hex digits>`, so the runner that replaces one
 * after its job is known to be on the same host. Null for a runner named otherwise.
 */
export function hostOfRunner(labels: readonly string[]): string | null {
  const own = labels.find((label) => label.toLowerCase().startsWith(RUNNER_LABEL_PREFIX));
  const match = own ? /^(.+)-\d+-[0-9a-f]{6}$/i.exec(own.slice(RUNNER_LABEL_PREFIX.length)) : null;
  return match ? match[1]!.toLowerCase() : null;
}
