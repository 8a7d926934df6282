import type { Clock } from "./clock.js";
import type { JobLifecycle } from "./job-lifecycle.js";
import { errorText, type Logger } from "./logger.js";
import type { FreeRunner } from "./scheduler.js";
import type { RunnerRecord, Store } from "./store/store.js";

/** Where runners come from: the local host's slots, GitHub's self-hosted runners, a test's fakes. */
export interface RunnerPool {
  readonly name: string;
  /** The runners as the pool sees them now. */
  list(): Promise<RunnerRecord[]>;
  /** False takes the runner out of service. */
  check?(env: RunnerRecord): Promise<boolean>;
  /** A fresh runner in place of a failed one, where the pool can make one. */
  replace?(env: RunnerRecord): Promise<RunnerRecord | null>;
}

/**
 * The pool of runners: which are online and with free capacity, which jobs they hold,
 * and what happens when one fails: its jobs go back as infrastructure failures, and a
 * replacement comes in where the pool can make one.
 */
export class ResourceManager {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: JobLifecycle,
    private readonly clock: Clock,
    private readonly pools: readonly RunnerPool[],
    private readonly log: Logger,
  ) {}

  /**
   * Brings the store's view in line with each pool's; runners a pool no longer lists go
   * offline. Only runners the store held before the listing began are judged by it: one
   * another replica (or a registration) put there meanwhile is the next listing's to judge.
   */
  async sync(): Promise<void> {
    const now = this.clock.now();
    for (const pool of this.pools) {
      const before = await this.store.runners.list(pool.name);
      const listed = await pool.list();
      const ids = new Set(listed.map((e) => e.id));
      await this.store.runners.upsertRunners(listed.map((env) => ({ ...env, pool: pool.name, lastSeen: now })));
      for (const known of before) {
        if (!ids.has(known.id) && known.state !== "offline") await this.takeOffline(known.id, "no longer listed by its pool");
      }
    }
  }

  /** Runs each pool's health check; a failed runner is taken out and replaced where possible. */
  async checkHealth(): Promise<{ failed: string[]; replaced: string[] }> {
    const failed: string[] = [];
    const replaced: string[] = [];
    for (const pool of this.pools) {
      if (!pool.check) continue;
      for (const env of await this.store.runners.list(pool.name)) {
        if (env.state === "offline") continue;
        let failure: string;
        try {
          if (await pool.check(env)) continue;
          failure = "failed its health check";
        } catch (err) {
          // A check that cannot tell fails the runner too, and says why.
          this.log.warn({ err, runnerId: env.id }, `the health check of runner ${env.id} failed; it goes offline`);
          failure = `failed its health check: ${errorText(err)}`;
        }
        failed.push(env.id);
        await this.takeOffline(env.id, failure);
        const fresh = await this.replacement(pool, env);
        if (fresh) {
          await this.store.runners.upsertRunners([{ ...fresh, pool: pool.name, lastSeen: this.clock.now() }]);
          replaced.push(fresh.id);
        }
      }
    }
    return { failed, replaced };
  }

  /** A fresh runner in place of a failed one, or null; one the pool failed to make is logged, and the failed one stays offline. */
  private async replacement(pool: RunnerPool, env: RunnerRecord): Promise<RunnerRecord | null> {
    try {
      return (await pool.replace?.(env)) ?? null;
    } catch (err) {
      this.log.warn({ err, runnerId: env.id }, `replacing runner ${env.id} failed; it stays offline with nothing in its place`);
      return null;
    }
  }

  /** A runner went away: every job it held is given back as an infrastructure failure. */
  async takeOffline(runnerId: string, reason: string): Promise<void> {
    await this.store.runners.setRunnerState(runnerId, "offline", this.clock.now());
    for (const job of await this.store.jobs.list({ states: ["dispatched", "running"] })) {
      if (job.runnerId === runnerId) await this.lifecycle.infrastructureFailure(job, `runner ${runnerId} ${reason}`);
    }
  }

  /** Online runners, which repositories' jobs each may take, and how many more it can take. */
  async freeRunners(): Promise<FreeRunner[]> {
    const busy = await this.store.jobs.busyByRunner();
    return (await this.store.runners.list())
      .filter((env) => env.state === "online")
      .map((env) => ({ id: env.id, labels: env.labels, scope: env.scope, free: env.capacity - (busy.get(env.id) ?? 0) }));
  }
}
