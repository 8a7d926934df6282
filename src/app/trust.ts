/** What the trust gate reads of a pull request. */
export interface PullRequestFacts {
  authorAssociation: string;
  headRepo: string | null;
  baseRepo: string;
  labels: string[];
}

export interface TrustConfig {
  ok_to_test_label: string;
  trusted_associations: readonly string[];
}

/**
 * A pull request runs on the hardware at once only when its author is trusted and it
 * does not come from a fork; otherwise it waits for a maintainer's ok-to-test.
 */
export function needsApproval(pr: PullRequestFacts, trust: TrustConfig): string | null {
  if (pr.headRepo !== null && pr.headRepo !== pr.baseRepo) return `it comes from the fork ${pr.headRepo}`;
  if (!trust.trusted_associations.includes(pr.authorAssociation)) return `its author is ${pr.authorAssociation.toLowerCase().replace(/_/g, " ")}, not a trusted member`;
  return null;
}
