import type { BatchEntry, CancelRequest, DispatchBatching, DispatchRequest, Dispatcher } from "../../src/orchestrator/dispatcher.js";
import type { RunnerPool } from "../../src/orchestrator/resource-manager.js";
import { UNRESTRICTED, type RunnerScope } from "../../src/orchestrator/scope.js";
import type { RunnerRecord, NewJob } from "../../src/orchestrator/store/store.js";
import { bootsBuild, buildJob, job } from "./job.js";

/** One job of a dispatch, as the recording dispatcher keeps it. */
export interface DispatchedJob extends BatchEntry {
  key: string;
  sentAt: number | null;
}

/**
 * Records what the orchestrator asked for, each dispatch's jobs one by one in `dispatched`
 * and each dispatch whole in `batches`; a run starts once per key, as GitHub's dispatch
 * with run-name lookup would.
 */
export class RecordingDispatcher implements Dispatcher {
  readonly dispatched: DispatchedJob[] = [];
  readonly batches: DispatchRequest[] = [];
  readonly cancelled: CancelRequest[] = [];
  readonly keys = new Set<string>();
  duplicates = 0;
  failNext = 0;

  /** Batching as a test asks for it; none (a dispatch per job) by default. */
  constructor(readonly batching?: DispatchBatching) {}

  async dispatch(request: DispatchRequest): Promise<{ runId: string }> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error("502 Bad Gateway");
    }
    if (this.keys.has(request.key)) this.duplicates += 1;
    this.keys.add(request.key);
    this.batches.push(request);
    for (const entry of request.entries) this.dispatched.push({ ...entry, key: request.key, sentAt: request.sentAt });
    return { runId: `run-${this.batches.length}` };
  }

  async cancel(request: CancelRequest): Promise<void> {
    this.cancelled.push(request);
  }
}

/** A pool whose runners a test adds and removes. */
export class StaticPool implements RunnerPool {
  readonly name = "static";
  runners: RunnerRecord[] = [];
  healthy = new Set<string>();
  /** Runners whose host cannot be asked: their check throws this. */
  unreachable = new Map<string, Error>();
  /** What `replace` throws while the pool cannot make another runner. */
  replaceFailure: Error | null = null;
  replacements = 0;

  /**
   * A runner; `owner` makes it that kto process's, whose jobs it gives back when it
   * stops. Unrestricted in scope unless `scope` says otherwise: most tests' jobs come from no repository.
   */
  add(id: string, labels: string[], capacity: number, options: { owner?: string; scope?: RunnerScope } = {}): void {
    this.runners.push({
      id,
      pool: this.name,
      labels,
      capacity,
      state: "online",
      lastSeen: 0,
      owner: options.owner ?? null,
      scope: options.scope ?? UNRESTRICTED,
    });
    this.healthy.add(id);
  }

  async list(): Promise<RunnerRecord[]> {
    return this.runners;
  }

  async check(env: RunnerRecord): Promise<boolean> {
    const unreachable = this.unreachable.get(env.id);
    if (unreachable) throw unreachable;
    return this.healthy.has(env.id);
  }

  async replace(env: RunnerRecord): Promise<RunnerRecord | null> {
    if (this.replaceFailure) throw this.replaceFailure;
    this.replacements += 1;
    const fresh = { ...env, id: `${env.id}-r${this.replacements}`, state: "online" as const };
    this.runners = this.runners.filter((e) => e.id !== env.id).concat(fresh);
    this.healthy.add(fresh.id);
    return fresh;
  }
}

export function storeJob(id: string, labels: string[], priority: number, overrides: Partial<NewJob> = {}): NewJob {
  return { id, name: id, spec: job({ id, labels, priority, timeoutMs: 60_000 }), labels, priority, maxAttempts: 2, retries: 0, ...overrides };
}

/** A build job of a plan, its plan-local id `name`. */
export function storeBuild(id: string, name: string, labels: string[], priority: number, overrides: Partial<NewJob> = {}): NewJob {
  return { id, name, spec: buildJob({ id: name, labels, priority, timeoutMs: 60_000 }), labels, priority, maxAttempts: 2, retries: 0, ...overrides };
}

/** A job of a plan that boots the plan's build `build` (its plan-local id). */
export function storeDependent(id: string, build: string, labels: string[], priority: number, overrides: Partial<NewJob> = {}): NewJob {
  return { id, name: id, spec: bootsBuild(build, { id, labels, priority, timeoutMs: 60_000 }), labels, priority, maxAttempts: 2, retries: 0, ...overrides };
}
