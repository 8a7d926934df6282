import type { Clock } from "./clock.js";
import type { JobLifecycle } from "./job-lifecycle.js";
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
        if (await pool.check(env).catch(() => false)) continue;
        failed.push(env.id);
        await this.takeOffline(env.id, "failed its health check");
        const fresh = await pool.replace?.(env).catch(() => null);
        if (fresh) {
          await this.store.environmentsRepo.upsertEnvironments([{ ...fresh, pool: pool.name, lastSeen: this.clock.now() }]);
          replaced.push(fresh.id);
        }
      }
    }
    return { failed, replaced };
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
