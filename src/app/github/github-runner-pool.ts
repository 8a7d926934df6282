import { DEFAULT_LIFECYCLE } from "../../orchestrator/job-lifecycle.js";
import { RUNNER_LABEL_PREFIX } from "../../orchestrator/labels.js";
import { stderrLogger, type Logger } from "../../orchestrator/logger.js";
import type { RunnerPool } from "../../orchestrator/resource-manager.js";
import { admits, type RunnerScope } from "../../orchestrator/scope.js";
import type { RunnerRecord, Store } from "../../orchestrator/store/store.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import { type OctokitFor, splitRepo, unlistable } from "./github-api.js";
import { InstallationGoneError, type InstallationGrants, type RunnerGrants } from "./installation-grants.js";
import { RunnerGroupScopes } from "./runner-groups.js";
import { DEFAULT_LISTING_PERIODS, ListingSchedule, type ListingPeriods } from "./listing-schedule.js";

export function githubRunnerKey(repo: string, runnerId: number): string {
  return `github:${repo}:${runnerId}`;
}

export { RUNNER_LABEL_PREFIX };

export function uniqueRunnerLabel(labels: readonly string[]): string | undefined {
  return labels.find((l) => l.toLowerCase().startsWith(RUNNER_LABEL_PREFIX));
}

/** The kto-runner-<name> labels on runner `name` that are not its own, compared as GitHub compares labels, without case. */
export function foreignRunnerLabels(name: string, labels: readonly string[]): string[] {
  const own = `${RUNNER_LABEL_PREFIX}${name}`.toLowerCase();
  return labels.filter((label) => label.toLowerCase().startsWith(RUNNER_LABEL_PREFIX) && label.toLowerCase() !== own);
}

export function runnerOf(runnerId: string): string {
  return runnerId.split(":").at(-1) ?? runnerId;
}

/**
 * A just-in-time runner is offline until its process connects, which takes a moment after
 * kto registered it: until then a listing that shows it offline does not take it away.
 */
export const CONNECT_GRACE_MS = 120_000;

/**
 * A running job's run sends a heartbeat every 30 s: one this long without (a heartbeat
 * missed, and some) says its runner may be gone, and its repository is listed, so the job's
 * retry, when its lease runs out, does not go to a runner GitHub already shows offline.
 */
export const QUIET_MS = 45_000;

interface GitHubRunner {
  id: number;
  name: string;
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

/** Where runner `id` (github:<home>:<runner id>) is registered: owner/name or org:name, in lower case, as GitHub compares names. */
function homeOf(id: string): string {
  return id.slice("github:".length, id.lastIndexOf(":")).toLowerCase();
}

/**
 * The self-hosted runners of the repositories kto is installed on, as runners: online
 * ones with their labels, one job each. A runner busy with work kto did not give it is
 * left alone; one that goes offline gives its job back (the resource manager does that).
 * Each has the scope GitHub gives it: its repository, or the repositories of its
 * organisation that its runner group admits. A listing costs a request per repository or
 * organisation (and, for an organisation with runners, one for its runner groups and one
 * per `selected` group in use), so the schedule (`ListingSchedule`) lists an organisation
 * once a period and a repository only when something about it is unknown; in between the
 * pool learns from registrations and workflow_job events, whose payloads name the runner,
 * and a repository not listed keeps the runners the store has for it.
 */
export class GitHubRunnerPool implements RunnerPool {
  readonly name = "github";
  private readonly repos = new Map<string, number>();
  /** Runners kto has seen, by runner id; `registeredAt` while a runner kto registered connects. */
  private readonly known = new Map<string, { ephemeral: boolean; registeredAt?: number; registered: boolean }>();
  private readonly groups = new RunnerGroupScopes();
  /** Runner ids (repo#id) a workflow_job named that kto has already listed their repository for. */
  private readonly askedAbout = new Set<string>();
  private readonly schedule: ListingSchedule;
  /** Runners kept from every job, and why: their kto-runner-<name> label breaks the label rule. */
  private refused = new Map<string, string>();
  /** How long a job's lease lasts from its last heartbeat: when that was, from when the lease runs out. */
  private readonly leaseMs: number;

  constructor(
    private readonly store: RunnerPoolStore,
    private readonly octokitFor: OctokitFor,
    /** Which runners an installation may list: its repositories' own, its organisation's, or both. */
    private readonly grants: Pick<InstallationGrants, "runnerGrantsOf">,
    private readonly now: () => number = Date.now,
    /** Where it says why it stopped tracking a repository, or left a runner without its group. */
    private readonly log: Logger = stderrLogger,
    periods: ListingPeriods = DEFAULT_LISTING_PERIODS,
  ) {
    this.schedule = new ListingSchedule(periods, now);
    this.leaseMs = periods.leaseMs ?? DEFAULT_LIFECYCLE.leaseMs;
  }

  /** Repositories to list runners of, with their installation; true when the repository is new here. */
  track(repo: string, installationId: number): boolean {
    const known = this.repos.get(repo) === installationId;
    this.repos.set(repo, installationId);
    return !known;
  }

  untrack(repo: string): void {
    this.repos.delete(repo);
    this.schedule.forget(repo);
  }

  /** How many runners kto gives no job because of their labels (/kto/health); the log names them. */
  refusedRunners(): number {
    return this.refused.size;
  }

  /** kto's id for GitHub runner `runnerId` of `repo` (its own or its organisation's), if kto knows it. */
  knownRunnerOf(repo: string, runnerId: number): string | null {
    const { owner } = splitRepo(repo);
    return [githubRunnerKey(repo, runnerId), githubRunnerKey(`${ORGANIZATION_HOME}${owner}`, runnerId)].find((id) => this.known.has(id)) ?? null;
  }

  /**
   * A workflow_job event named runner `runnerId`, which kto does not know, for a job on a
   * self-hosted runner of `repo`: its repository is listed at the next listing, once for
   * that runner. True when a listing is wanted.
   */
  unknownRunner(repo: string, runnerId: number): boolean {
    const key = `${repo.toLowerCase()}#${runnerId}`;
    if (this.askedAbout.has(key) || !this.repos.has(repo)) return false;
    this.askedAbout.add(key);
    this.schedule.markUnknown(repo, `a workflow_job named runner ${runnerId}, which kto did not know`);
    return true;
  }

  /** A run of `repo` ended without its report: the runner it was bound to may be gone, so the repository is listed. */
  runLost(repo: string): void {
    if (this.repos.has(repo)) this.schedule.markUnknown(repo, "a run lost its runner");
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
    this.known.set(id, { ephemeral: runner.ephemeral === true, registeredAt: this.now(), registered: true });
    await this.store.runners.upsertRunners([
      { id, pool: this.name, labels: (runner.labels ?? []).map((l) => l.name), capacity: 1, state: "online", lastSeen: this.now(), scope },
    ]);
  }

  /**
   * A workflow_job event on one of the pool's runners. A job of another workflow takes the
   * runner away from kto until it ends; one of kto's on a runner that takes one job leaves
   * it no room for another; when that job ends the runner is gone, and where kto did not
   * register it (a scale set's), its repository is listed for the runner that replaces it.
   */
  async observe(event: RunnerEvent): Promise<RunnerChange> {
    const id = this.knownRunnerOf(event.repo, event.runnerId);
    if (!id) return null;
    const { ephemeral, registered } = this.known.get(id)!;
    const env = (await this.store.runners.list(this.name)).find((e) => e.id === id);
    if (!env) return null;
    if (event.action === "in_progress") {
      // It has connected: from now on a listing that shows it offline means it is gone.
      this.known.set(id, { ephemeral, registered });
      if (!event.ours) await this.store.runners.setRunnerState(id, "offline", this.now());
      else if (ephemeral) await this.store.runners.upsertRunners([{ ...env, capacity: 0, lastSeen: this.now() }]);
      return null;
    }
    if (event.action !== "completed") return null;
    if (ephemeral) {
      this.known.delete(id);
      const home = [...this.repos.keys()].find((repo) => repo.toLowerCase() === homeOf(id));
      if (!registered && home) this.schedule.markUnknown(home, `ephemeral runner ${event.runnerId}, which kto did not register, took its one job`);
      return { gone: id, reason: "took its one job (an ephemeral runner)" };
    }
    if (!event.ours) await this.store.runners.setRunnerState(id, "online", this.now());
    return null;
  }

  async list(): Promise<RunnerRecord[]> {
    // After a restart the memory of tracked repositories is empty; the store still knows
    // which repositories have work waiting or running, and lists them again.
    for (const { repo, installationId } of await this.store.jobs.reposWithOpenWork())
      if (!this.repos.has(repo)) {
        this.repos.set(repo, installationId);
        this.schedule.markUnknown(repo, "unfinished work in the store after a restart");
      }
    const active = await this.store.jobs.list({ states: ["dispatched", "running"] });
    const leased = new Set(active.map((j) => j.runnerId));
    // A runner that started a job had connected: offline now, it is gone, not still connecting.
    const started = new Set(active.filter((j) => j.state === "running").map((j) => j.runnerId));
    const stored = await this.store.runners.list(this.name);
    const now = this.now();
    const repoByHome = new Map([...this.repos.keys()].map((repo) => [repo.toLowerCase(), repo]));
    // A job dispatched a while ago and not started: its runner may be gone, and its repository is listed.
    for (const job of active) {
      if (job.state !== "dispatched" || !job.runnerId || job.dispatchedAt === null) continue;
      const home = repoByHome.get(homeOf(job.runnerId));
      const stalledAt = job.dispatchedAt + CONNECT_GRACE_MS;
      if (home && now >= stalledAt && !this.schedule.checkedSince(home, stalledAt))
        this.schedule.markUnknown(home, `job ${job.id} dispatched to runner ${job.runnerId} has not started`);
    }
    for (const job of active) {
      if (job.state !== "running" || !job.runnerId || job.leaseExpires === null) continue;
      const home = repoByHome.get(homeOf(job.runnerId));
      const quietAt = job.leaseExpires - this.leaseMs + QUIET_MS;
      if (home && now >= quietAt && !this.schedule.checkedSince(home, quietAt))
        this.schedule.markUnknown(home, `job ${job.id} running on runner ${job.runnerId} has sent no heartbeat for ${QUIET_MS / 1000} s`);
    }
    const out = new Map<string, RunnerRecord>();
    const listedHomes = new Set<string>();
    const refused = new Map<string, string>();
    const refuse = (id: string, why: string) => {
      refused.set(id, why);
      if (!this.refused.has(id)) this.log.warn({ runnerId: id }, `kto gives runner ${id} no job: ${why}`);
    };
    const listed = new Set<string>();
    const add = (home: string, runner: GitHubRunner, scope: RunnerScope) => {
      const id = githubRunnerKey(home, runner.id);
      listed.add(id);
      const before = this.known.get(id);
      const registeredAt = before?.registeredAt;
      const connecting = runner.status !== "online" && registeredAt !== undefined && !started.has(id) && now - registeredAt < CONNECT_GRACE_MS;
      // Seen online, or offline after it started a job: it is not connecting any more.
      this.known.set(id, { ephemeral: runner.ephemeral === true, ...(connecting ? { registeredAt } : {}), registered: before?.registered === true });
      const foreign = foreignRunnerLabels(
        runner.name,
        runner.labels.map((l) => l.name),
      );
      if (foreign.length > 0) {
        refuse(id, `runner ${runner.name} carries ${foreign.join(", ")}: the only kto-runner-<name> label a runner may have is its own`);
        return;
      }
      if (runner.status !== "online" && !connecting) return;
      if (runner.busy && !leased.has(id)) {
        // Busy with a job kto did not lease it (another workflow's, or kto's own that the
        // store already counts as ended): it is away for now, not gone, and no event may say
        // when it is free again, so its repository is listed again at the next sync.
        if (!home.startsWith(ORGANIZATION_HOME)) this.schedule.markUnknown(home, `runner ${runner.name} is busy with a job kto did not lease it`);
        return;
      }
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
    // Organisations first: a repository seen for the first time that their runners serve needs no listing.
    const organizations = new Map<string, number>();
    for (const [fullName, installationId] of this.repos) {
      const { owner } = splitRepo(fullName);
      if (![...organizations.keys()].some((o) => o.toLowerCase() === owner.toLowerCase())) organizations.set(owner, installationId);
    }
    // What each installation may list, read once a pass; an installation that is gone (kto
    // missed its uninstall) takes only its own repositories out of the listing.
    const grantsOf = new Map<number, RunnerGrants | null>();
    const grantsFor = async (installationId: number): Promise<RunnerGrants | null> => {
      if (!grantsOf.has(installationId)) {
        try {
          grantsOf.set(installationId, await this.grants.runnerGrantsOf(installationId));
        } catch (error) {
          if (!(error instanceof InstallationGoneError)) throw error;
          for (const [repo, id] of [...this.repos]) if (id === installationId) this.untrack(repo);
          this.log.warn({ err: error, installationId }, `kto does not list the runners of installation ${installationId}: ${error.message}`);
          grantsOf.set(installationId, null);
        }
      }
      return grantsOf.get(installationId)!;
    };
    for (const [owner, installationId] of organizations) {
      const grants = await grantsFor(installationId);
      if (!grants) organizations.delete(owner);
      if (!grants?.organization || !this.schedule.organizationDue(owner)) continue;
      const octokit = await this.octokitFor(installationId);
      const home = `${ORGANIZATION_HOME}${owner}`;
      // An organisation's runners serve those of its repositories their runner group admits;
      // a user account has none (404), and an installation without the organisation
      // permission gets 403: both mean none.
      let runners: GitHubRunner[] = [];
      try {
        runners = await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForOrg, { org: owner, per_page: 100 });
      } catch (error) {
        if (!unlistable(error)) throw error;
      }
      await this.groups.read(octokit, owner, new Set(runners.flatMap((r) => r.runner_group_id ?? [])), { replace: true });
      for (const runner of runners) add(home, runner, this.groups.scopeOf(owner, runner.runner_group_id));
      this.schedule.organizationListed(owner);
      listedHomes.add(home.toLowerCase());
    }
    const online = [...stored.filter((r) => r.state === "online" && !listedHomes.has(homeOf(r.id))), ...out.values()];
    for (const [fullName, installationId] of [...this.repos]) {
      const covered = () => online.some((r) => admits(r.scope, { repo: fullName, repoPrivate: null }));
      const why = this.schedule.repositoryDue(fullName, covered);
      // Without Administration a repository's own runners can neither be listed nor registered.
      if (!why || !(await grantsFor(installationId))?.repository) continue;
      const octokit = await this.octokitFor(installationId);
      const { owner, repo } = splitRepo(fullName);
      try {
        const scope: RunnerScope = { kind: "repository", repository: fullName };
        for (const runner of await octokit.paginate(octokit.rest.actions.listSelfHostedRunnersForRepo, { owner, repo, per_page: 100 }))
          add(fullName, runner, scope);
      } catch (error) {
        // A repository GitHub will not list (gone, renamed, not this installation's, or a name
        // no repository has) has no runners for kto: the others are still listed. A failure
        // that passes (5xx, a rate limit) fails the listing, which keeps the pool as it was.
        if (!unlistable(error)) throw error;
        if (httpStatusOf(error) === 404) {
          this.untrack(fullName);
          this.log.warn(
            { err: error, repo: fullName },
            `GitHub does not list the runners of ${fullName} (404: gone, renamed, or not this installation's); kto stops tracking it`,
          );
          continue;
        }
      }
      this.schedule.repositoryListed(fullName);
      listedHomes.add(fullName.toLowerCase());
    }
    // A home not listed now keeps the runners the store has for it, as registrations and
    // workflow_job events left them; one kto no longer tracks has none.
    const tracked = new Set([...this.repos.keys(), ...[...organizations.keys()].map((o) => `${ORGANIZATION_HOME}${o}`)].map((home) => home.toLowerCase()));
    // The same runner under a home spelt in another case (a host's setting, GitHub's name) is one runner.
    const inOut = new Set([...out.keys()].map((id) => id.toLowerCase()));
    // Read again now the listings are done: a runner registered meanwhile is kept, not taken offline as unlisted.
    for (const record of await this.store.runners.list(this.name)) {
      const home = homeOf(record.id);
      const justRegistered = now - (this.known.get(record.id)?.registeredAt ?? -Infinity) < CONNECT_GRACE_MS && !listed.has(record.id);
      if (record.state !== "offline" && (!listedHomes.has(home) || justRegistered) && tracked.has(home) && !inOut.has(record.id.toLowerCase()))
        out.set(record.id, record);
    }
    // A label that binds a job to one runner binds it to none when two carry it: GitHub
    // would give the run to either. Neither gets a job until one is gone.
    const carriers = new Map<string, string[]>();
    for (const record of out.values()) {
      const label = uniqueRunnerLabel(record.labels.map((l) => l.toLowerCase()));
      if (label) carriers.set(label, [...(carriers.get(label) ?? []), record.id]);
    }
    for (const [label, ids] of carriers)
      if (ids.length > 1)
        for (const id of ids) {
          out.delete(id);
          refuse(id, `${ids.length} runners carry ${label} (${ids.join(", ")}), which binds a job to one runner`);
        }
    // A home not listed now keeps its refusals until it is.
    for (const [id, why] of this.refused) if (!listedHomes.has(homeOf(id)) && !refused.has(id)) refused.set(id, why);
    this.refused = refused;
    // Runners a listing of their home no longer shows are forgotten, but for one registered a moment ago.
    for (const [id, { registeredAt }] of this.known)
      if (listedHomes.has(homeOf(id)) && !listed.has(id) && (registeredAt === undefined || now - registeredAt >= CONNECT_GRACE_MS)) this.known.delete(id);
    return [...out.values()];
  }
}
