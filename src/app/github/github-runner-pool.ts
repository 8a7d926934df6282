import { stderrLogger, type Logger } from "../../orchestrator/logger.js";
import type { RunnerPool } from "../../orchestrator/resource-manager.js";
import type { RunnerScope } from "../../orchestrator/scope.js";
import type { RunnerRecord, Store } from "../../orchestrator/store/store.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import { type OctokitFor, splitRepo, unlistable } from "./github-api.js";
import { InstallationGoneError, type InstallationGrants, type RunnerGrants } from "./installation-grants.js";
import { RunnerGroupScopes } from "./runner-groups.js";

export function githubRunnerKey(repo: string, runnerId: number): string {
  return `github:${repo}:${runnerId}`;
}

/** Provisioning gives every runner a label of its own with this prefix; dispatch binds a job to it. */
export const RUNNER_LABEL_PREFIX = "kto-runner-";

export function uniqueRunnerLabel(labels: readonly string[]): string | undefined {
  return labels.find((l) => l.startsWith(RUNNER_LABEL_PREFIX));
}

export function runnerOf(runnerId: string): string {
  return runnerId.split(":").at(-1) ?? runnerId;
}

/**
 * A just-in-time runner is offline until its process connects, which takes a moment after
 * kto registered it: until then a listing that shows it offline does not take it away.
 */
export const CONNECT_GRACE_MS = 120_000;

interface GitHubRunner {
  id: number;
  status: string;
  busy: boolean;
  labels: { name: string }[];
  /** Takes one job and is gone (a just-in-time runner). */
  ephemeral?: boolean;
  /** An organisation's runner's group: which of its repositories may use it. */
  runner_group_id?: number;
}

/** A runner as registering it answers. */
export interface RegisteredRunner {
  id: number;
  name: string;
  labels?: { name: string }[];
  ephemeral?: boolean;
  runner_group_id?: number;
}

/** Where a runner is registered: `owner/name` for a repository's, `org:name` for an organisation's. */
const ORGANIZATION_HOME = "org:";

/** What a workflow_job event says about one of the pool's runners. */
export interface RunnerEvent {
  repo: string;
  action: string;
  runnerId: number;
  /** The job is one of kto's: it asked for a kto-runner-<name> label. */
  ours: boolean;
}

/** What the pool's store needs after an event: a runner that cannot take work any more. */
export type RunnerChange = { gone: string; reason: string } | null;

/** What the pool keeps in the store: the runners it lists, and the repositories with work that want them. */
export interface RunnerPoolStore {
  runners: Pick<Store["runners"], "list" | "upsertRunners" | "setRunnerState">;
  jobs: Pick<Store["jobs"], "list" | "reposWithOpenWork">;
}

/**
 * The self-hosted runners of the repositories kto is installed on, as runners: online
 * ones with their labels, one job each. A runner busy with work kto did not give it is
 * left alone; one that goes offline gives its job back (the resource manager does that).
 * Each has the scope GitHub gives it: its repository, or the repositories of its
 * organisation that its runner group admits. Listing them costs a request per repository
 * and organisation (and, for an organisation with runners, one for its runner groups and
 * one per `selected` group in use), so it happens at start, for a repository seen for the
 * first time and on the periodic sync; in between the pool learns from registrations and
 * workflow_job events, whose payloads name the runner.
 */
export class GitHubRunnerPool implements RunnerPool {
  readonly name = "github";
  private readonly repos = new Map<string, number>();
  /** Runners kto has seen, by runner id. */
  private readonly known = new Map<string, { ephemeral: boolean; registeredAt?: number }>();
  private readonly groups = new RunnerGroupScopes();

  constructor(
    private readonly store: RunnerPoolStore,
    private readonly octokitFor: OctokitFor,
    /** Which runners an installation may list: its repositories' own, its organisation's, or both. */
    private readonly grants: Pick<InstallationGrants, "runnerGrantsOf">,
    private readonly now: () => number = Date.now,
    /** Where it says why it stopped tracking a repository, or left a runner without its group. */
    private readonly log: Logger = stderrLogger,
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

  /** kto's id for GitHub runner `runnerId` of `repo` (its own or its organisation's), if kto knows it. */
  knownRunnerOf(repo: string, runnerId: number): string | null {
    const { owner } = splitRepo(repo);
    return [githubRunnerKey(repo, runnerId), githubRunnerKey(`${ORGANIZATION_HOME}${owner}`, runnerId)].find((id) => this.known.has(id)) ?? null;
  }

  /**
   * A runner kto just registered at `home` (owner/name or org:name), through installation
   * `installationId`: in the pool at once, without a listing. It is online as far as kto is
   * concerned, since a job bound to its label waits for it to connect. An organisation's
   * runner group is read here only when no listing has read it yet.
   */
  async registered(home: string, runner: RegisteredRunner, installationId: number): Promise<void> {
    const id = githubRunnerKey(home, runner.id);
    let scope: RunnerScope = { kind: "repository", repository: home };
    if (home.startsWith(ORGANIZATION_HOME)) {
      const organization = home.slice(ORGANIZATION_HOME.length);
      const group = runner.runner_group_id;
      if (group !== undefined && !this.groups.knows(organization, group)) {
        try {
          await this.groups.read(await this.octokitFor(installationId), organization, [group], { replace: false });
        } catch (err) {
          // GitHub did not answer now: the runner takes no job until the next listing reads its group.
          this.log.warn(
            { err, organization, group },
            `reading runner group ${group} of ${organization} failed; runner ${runner.name} takes no job until the next listing reads it`,
          );
        }
      }
      scope = this.groups.scopeOf(organization, group);
    }
    this.known.set(id, { ephemeral: runner.ephemeral === true, registeredAt: this.now() });
    await this.store.runners.upsertRunners([
      { id, pool: this.name, labels: (runner.labels ?? []).map((l) => l.name), capacity: 1, state: "online", lastSeen: this.now(), scope },
    ]);
  }

  /**
   * A workflow_job event on one of the pool's runners. A job of another workflow takes the
   * runner away from kto until it ends; one of kto's on a runner that takes one job leaves
   * it no room for another; when that job ends the runner is gone.
   */
  async observe(event: RunnerEvent): Promise<RunnerChange> {
    const id = this.knownRunnerOf(event.repo, event.runnerId);
    if (!id) return null;
    const { ephemeral } = this.known.get(id)!;
    const env = (await this.store.runners.list(this.name)).find((e) => e.id === id);
    if (!env) return null;
    if (event.action === "in_progress") {
      // It has connected: from now on a listing that shows it offline means it is gone.
      this.known.set(id, { ephemeral });
      if (!event.ours) await this.store.runners.setRunnerState(id, "offline", this.now());
      else if (ephemeral) await this.store.runners.upsertRunners([{ ...env, capacity: 0, lastSeen: this.now() }]);
      return null;
    }
    if (event.action !== "completed") return null;
    if (ephemeral) return { gone: id, reason: "took its one job (an ephemeral runner)" };
    if (!event.ours) await this.store.runners.setRunnerState(id, "online", this.now());
    return null;
  }

  async list(): Promise<RunnerRecord[]> {
    // After a restart the memory of tracked repositories is empty; the store still knows
    // which repositories have work waiting or running.
    for (const { repo, installationId } of await this.store.jobs.reposWithOpenWork()) if (!this.repos.has(repo)) this.repos.set(repo, installationId);
    const active = await this.store.jobs.list({ states: ["dispatched", "running"] });
    const leased = new Set(active.map((j) => j.runnerId));
    // A runner that started a job had connected: offline now, it is gone, not still connecting.
    const started = new Set(active.filter((j) => j.state === "running").map((j) => j.runnerId));
    const out = new Map<string, RunnerRecord>();
    const listed = new Set<string>();
    const now = this.now();
    const add = (home: string, runner: GitHubRunner, scope: RunnerScope) => {
      const id = githubRunnerKey(home, runner.id);
      listed.add(id);
      const registeredAt = this.known.get(id)?.registeredAt;
      const connecting = runner.status !== "online" && registeredAt !== undefined && !started.has(id) && now - registeredAt < CONNECT_GRACE_MS;
      // Seen online, or offline after it started a job: it is not connecting any more.
      this.known.set(id, { ephemeral: runner.ephemeral === true, ...(connecting ? { registeredAt } : {}) });
      if ((runner.status !== "online" && !connecting) || (runner.busy && !leased.has(id))) return;
      // An ephemeral runner at work has no room for another job, not even after this one.
      out.set(id, {
        id,
        pool: this.name,
        labels: runner.labels.map((l) => l.name),
        capacity: runner.ephemeral && runner.busy ? 0 : 1,
        state: "online",
        lastSeen: now,
        scope,
      });
    };
    const orgsSeen = new Set<string>();
    for (const [fullName, installationId] of this.repos) {
      const octokit = await this.octokitFor(installationId);
      const { owner, repo } = splitRepo(fullName);
      let grants: RunnerGrants;
      try {
        grants = await this.grants.runnerGrantsOf(installationId);
      } catch (error) {
        // An installation that is gone (kto missed its uninstall) takes only its own repositories out of the listing.
        if (!(error instanceof InstallationGoneError)) throw error;
        this.repos.delete(fullName);
        this.log.warn({ err: error, repo: fullName }, `kto does not list the runners of ${fullName}: ${error.message}`);
        continue;
      }
      if (grants.repository) {
        try {
          const scope: RunnerScope = { kind: "repository", repository: fullName };
          for (const runner of await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForRepo, { owner, repo, per_page: 100 }))
            add(fullName, runner, scope);
        } catch (error) {
          // A repository GitHub will not list (gone, renamed, not this installation's, or a name
          // no repository has) has no runners of its own for kto: its organisation's and the
          // other repositories' are still listed. A failure that passes (5xx, a rate limit)
          // fails the listing, which keeps the pool as it was.
          if (!unlistable(error)) throw error;
          if (httpStatusOf(error) === 404) {
            this.repos.delete(fullName);
            this.log.warn(
              { err: error, repo: fullName },
              `GitHub does not list the runners of ${fullName} (404: gone, renamed, or not this installation's); kto stops tracking it`,
            );
            continue;
          }
        }
      }
      if (!grants.organization || orgsSeen.has(owner)) continue;
      orgsSeen.add(owner);
      // An organisation's runners serve those of its repositories their runner group admits;
      // a user account has none (404): that means none.
      let runners: GitHubRunner[];
      try {
        runners = await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForOrg, { org: owner, per_page: 100 });
      } catch (error) {
        if (!unlistable(error)) throw error;
        continue;
      }
      const home = `${ORGANIZATION_HOME}${owner}`;
      await this.groups.read(octokit, owner, new Set(runners.flatMap((r) => r.runner_group_id ?? [])), { replace: true });
      for (const runner of runners) add(home, runner, this.groups.scopeOf(owner, runner.runner_group_id));
    }
    // Runners GitHub no longer lists are forgotten, but for one registered a moment ago.
    for (const [id, { registeredAt }] of this.known)
      if (!listed.has(id) && (registeredAt === undefined || now - registeredAt >= CONNECT_GRACE_MS)) this.known.delete(id);
    return [...out.values()];
  }
}
