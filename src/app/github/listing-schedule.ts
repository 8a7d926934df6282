/**
 * When the runner pool lists runners again. Listing costs a request whether a repository
 * has one runner or none, so what it costs an hour must not grow with the number of
 * repositories kto tracks: an organisation is listed once a period, however many of its
 * repositories kto tracks, and a repository only when something about it is unknown (it
 * is new and no runner kto knows may take its jobs, a job named a runner kto does not
 * know, a run lost its runner, a dispatch was not taken up, kto restarted with work
 * there), or after the long backstop. In between, registrations and workflow_job events
 * keep the pool true.
 */
export interface ListingPeriods {
  /** How often an organisation's runners are listed: KTO_RUNNER_SYNC_SECONDS. */
  organizationMs: number;
  /** How long a repository goes unlisted when nothing about it is unknown. */
  repositoryBackstopMs: number;
  /** How long a job's lease lasts from its last heartbeat (the orchestrator's), so a running job gone quiet is noticed. */
  leaseMs?: number;
}

/** Six hours: a runner registered outside kto and never named by an event is found within them. */
export const REPOSITORY_BACKSTOP_MS = 6 * 3_600_000;

export const DEFAULT_LISTING_PERIODS: ListingPeriods = { organizationMs: 60_000, repositoryBackstopMs: REPOSITORY_BACKSTOP_MS };

/** A timer may fire a moment before its period is up by the wall clock; that listing still counts as on time. */
function slack(periodMs: number): number {
  return Math.min(1_000, periodMs / 10);
}

export class ListingSchedule {
  /** Repositories to list at the next listing, with why. */
  private readonly unknown = new Map<string, string>();
  /** When each repository was last listed, or judged not to need it. */
  private readonly repositoryCheckedAt = new Map<string, number>();
  private readonly organizationListedAt = new Map<string, number>();

  constructor(
    private readonly periods: ListingPeriods,
    private readonly now: () => number,
  ) {}

  /** Something about `repo` is unknown: it is listed at the next listing. */
  markUnknown(repo: string, why: string): void {
    if (!this.unknown.has(repo)) this.unknown.set(repo, why);
  }

  /** Why `repo` is listed now, or null. `covered`: a runner kto knows may take its jobs (what a repository seen for the first time lacks to go unlisted). */
  repositoryDue(repo: string, covered: () => boolean): string | null {
    const why = this.unknown.get(repo);
    if (why) return why;
    const checkedAt = this.repositoryCheckedAt.get(repo);
    if (checkedAt === undefined) {
      if (!covered()) return "seen for the first time, with no runner known for it";
      // Known runners may take its jobs: its backstop starts now.
      this.repositoryCheckedAt.set(repo, this.now());
      return null;
    }
    const backstop = this.periods.repositoryBackstopMs;
    return this.now() - checkedAt >= backstop - slack(backstop) ? "the backstop period is up" : null;
  }

  /** Whether `repo` has been listed (or judged not to need it) since `at`. */
  checkedSince(repo: string, at: number): boolean {
    return (this.repositoryCheckedAt.get(repo) ?? -Infinity) >= at;
  }

  repositoryListed(repo: string): void {
    this.unknown.delete(repo);
    this.repositoryCheckedAt.set(repo, this.now());
  }

  organizationDue(organization: string): boolean {
    const at = this.organizationListedAt.get(organization.toLowerCase());
    const period = this.periods.organizationMs;
    return at === undefined || this.now() - at >= period - slack(period);
  }

  organizationListed(organization: string): void {
    this.organizationListedAt.set(organization.toLowerCase(), this.now());
  }

  /** A repository kto stops tracking: seen again, it is new. */
  forget(repo: string): void {
    this.unknown.delete(repo);
    this.repositoryCheckedAt.delete(repo);
  }
}
