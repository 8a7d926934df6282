import type { EnvironmentPool } from "../orchestrator/resource-manager.js";
import type { EnvironmentRecord, Store } from "../orchestrator/store/store.js";
import { splitRepo, type OctokitFor } from "./github-api.js";

export function runnerEnvironmentId(repo: string, runnerId: number): string {
  return `github:${repo}:${runnerId}`;
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
    const leased = new Set((await this.store.jobs({ states: ["dispatched", "running"] })).map((j) => j.envId));
    const out: EnvironmentRecord[] = [];
    for (const [fullName, installationId] of this.repos) {
      const octokit = await this.octokitFor(installationId);
      const { owner, repo } = splitRepo(fullName);
      const runners = await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForRepo, { owner, repo, per_page: 100 });
      for (const runner of runners) {
        const id = runnerEnvironmentId(fullName, runner.id);
        if (runner.status !== "online") continue;
        if (runner.busy && !leased.has(id)) continue;
        out.push({ id, pool: this.name, labels: runner.labels.map((l) => l.name), capacity: 1, state: "online", lastSeen: this.now() });
      }
    }
    return out;
  }
}
