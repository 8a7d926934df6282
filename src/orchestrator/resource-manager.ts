import type { Clock } from "./clock.js";
import type { JobLifecycle } from "./job-lifecycle.js";
import { errorText, type Logger } from "./logger.js";
import type { FreeEnvironment } from "./scheduler.js";
import type { EnvironmentRecord, Store } from "./store/store.js";

/** Where environments come from: the local host's slots, GitHub's self-hosted runners, a test's fakes. */
export interface EnvironmentPool {
  readonly name: string;
  /** The environments as the pool sees them now. */
  list(): Promise<EnvironmentRecord[]>;
  /** False takes the environment out of service. */
  check?(env: EnvironmentRecord): Promise<boolean>;
  /** A fresh environment in place of a failed one, where the pool can make one. */
  replace?(env: EnvironmentRecord): Promise<EnvironmentRecord | null>;
}

/**
 * The pool of environments: which are online and with free capacity, which jobs they hold,
 * and what happens when one fails: its jobs go back as infrastructure failures, and a
 * replacement comes in where the pool can make one.
 */
export class ResourceManager {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: JobLifecycle,
    private readonly clock: Clock,
    private readonly pools: readonly EnvironmentPool[],
    private readonly log: Logger,
  ) {}

  /** Brings the store's view in line with each pool's; environments a pool no longer lists go offline. */
  async sync(): Promise<void> {
    const now = this.clock.now();
    for (const pool of this.pools) {
      const listed = await pool.list();
      const ids = new Set(listed.map((e) => e.id));
      await this.store.environmentsRepo.upsertEnvironments(listed.map((env) => ({ ...env, pool: pool.name, lastSeen: now })));
      for (const known of await this.store.environmentsRepo.environments(pool.name)) {
        if (!ids.has(known.id) && known.state !== "offline") await this.takeOffline(known.id, "no longer listed by its pool");
      }
    }
  }

  /** Runs each pool's health check; a failed environment is taken out and replaced where possible. */
  async checkHealth(): Promise<{ failed: string[]; replaced: string[] }> {
    const failed: string[] = [];
    const replaced: string[] = [];
    for (const pool of this.pools) {
      if (!pool.check) continue;
      for (const env of await this.store.environmentsRepo.environments(pool.name)) {
        if (env.state === "offline") continue;
        let failure: string;
        try {
          if (await pool.check(env)) continue;
          failure = "failed its health check";
        } catch (err) {
          // A check that cannot tell fails the environment too, and says why.
          this.log.warn({ err, envId: env.id }, `the health check of environment ${env.id} failed; it goes offline`);
          failure = `failed its health check: ${errorText(err)}`;
        }
        failed.push(env.id);
        await this.takeOffline(env.id, failure);
        const fresh = await this.replacement(pool, env);
        if (fresh) {
          await this.store.environmentsRepo.upsertEnvironments([{ ...fresh, pool: pool.name, lastSeen: this.clock.now() }]);
          replaced.push(fresh.id);
        }
      }
    }
    return { failed, replaced };
  }

  /** A fresh environment in place of a failed one, or null; one the pool failed to make is logged, and the failed one stays offline. */
  private async replacement(pool: EnvironmentPool, env: EnvironmentRecord): Promise<EnvironmentRecord | null> {
    try {
      return (await pool.replace?.(env)) ?? null;
    } catch (err) {
      this.log.warn({ err, envId: env.id }, `replacing environment ${env.id} failed; it stays offline with nothing in its place`);
      return null;
    }
  }

  /** An environment went away: every job it held is given back as an infrastructure failure. */
  async takeOffline(envId: string, reason: string): Promise<void> {
    await this.store.environmentsRepo.setEnvironmentState(envId, "offline", this.clock.now());
    for (const job of await this.store.jobsRepo.jobs({ states: ["dispatched", "running"] })) {
      if (job.envId === envId) await this.lifecycle.infrastructureFailure(job, `environment ${envId} ${reason}`);
    }
  }

  /** Online environments, which repositories' jobs each may take, and how many more it can take. */
  async freeEnvironments(): Promise<FreeEnvironment[]> {
    const busy = await this.store.jobsRepo.busyByEnvironment();
    return (await this.store.environmentsRepo.environments())
      .filter((env) => env.state === "online")
      .map((env) => ({ id: env.id, labels: env.labels, scope: env.scope, free: env.capacity - (busy.get(env.id) ?? 0) }));
  }
}
