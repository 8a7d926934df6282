import type { EnvironmentPool } from "../orchestrator/resource-manager.js";
import type { EnvironmentRecord, Store } from "../orchestrator/store/store.js";
import { splitRepo, type OctokitFor } from "./github-api.js";

export function runnerEnvironmentId(repo: string, runnerId: number): string {
  return `github:${repo}:${runnerId}`;
}

/** Provisioning gives every runner a label of its own with this prefix; dispatch binds a job to it. */
export const RUNNER_LABEL_PREFIX = "kto-runner-";

export function uniqueRunnerLabel(labels: readonly string[]): string | undefined {
  return labels.find((l) => l.startsWith(RUNNER_LABEL_PREFIX));
}

export function runnerOf(envId: string): string {
  return envId.split(":").at(-1) ?? envId;
}

/**
 * The self-hosted runners of the repositories kto is installed on, as environments: online
 * ones with their labels, one job each. A runner busy with work kto did not give it is
 * left alone; one that goes offline gives its job back (the resource manager does that).
 */
export class GitHubRunnerPool implements EnvironmentPool {
  readonly name = "github";
  private readonly repos = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly octokitFor: OctokitFor,
    private readonly now: () => number = Date.now,
  ) {}

  /** Repositories to list runners of, with their installation; true when the repository is new here. */
  track(repo: string, installationId: number): boolean {
    const known = this.repos.get(repo) === installationId;
    this.repos.set(repo, installationId);
    return !known;
  }

  untrack(repo: string): void {
    this.repos.delete(repo);
  }

  async list(): Promise<EnvironmentRecord[]> {
    // After a restart the memory of tracked repositories is empty; the store still knows
    // which repositories have work waiting or running.
    for (const { repo, installationId } of await this.store.reposWithOpenWork()) if (!this.repos.has(repo)) this.repos.set(repo, installationId);
    const leased = new Set((await this.store.jobs({ states: ["dispatched", "running"] })).map((j) => j.envId));
    const out = new Map<string, EnvironmentRecord>();
    const add = (scope: string, runner: { id: number; status: string; busy: boolean; labels: { name: string }[] }) => {
      const id = runnerEnvironmentId(scope, runner.id);
      if (runner.status !== "online" || (runner.busy && !leased.has(id))) return;
      out.set(id, { id, pool: this.name, labels: runner.labels.map((l) => l.name), capacity: 1, state: "online", lastSeen: this.now() });
    };
    const orgsSeen = new Set<string>();
    for (const [fullName, installationId] of this.repos) {
      const octokit = await this.octokitFor(installationId);
      const { owner, repo } = splitRepo(fullName);
      for (const runner of await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForRepo, { owner, repo, per_page: 100 })) add(fullName, runner);
      if (orgsSeen.has(owner)) continue;
      orgsSeen.add(owner);
      // An organisation's runners serve its repositories too; a user account has none (404),
      // and an installation without the organisation permission gets 403: both mean none.
      try {
        for (const runner of await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForOrg, { org: owner, per_page: 100 })) add(`org:${owner}`, runner);
      } catch (error) {
        const status = (error as { status?: number }).status;
        if (status !== 404 && status !== 403) throw error;
      }
    }
    return [...out.values()];
  }
}
