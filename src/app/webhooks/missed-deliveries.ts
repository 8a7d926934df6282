import type { Clock } from "../../orchestrator/clock.js";
import type { Coordination } from "../../orchestrator/store/coordination.js";
import type { DeliveryLog } from "../../orchestrator/store/store.js";
import type { Octokit } from "../github/github-api.js";

export interface MissedDeliveryOptions {
  /** How often one replica looks: GitHub never redelivers on its own. */
  intervalMs: number;
  /** How far back: GitHub redelivers an event for three days, and kto stops an hour short of that. */
  windowMs: number;
  /**
   * A failed attempt younger than this is left alone: GitHub gives up on a delivery after 10
   * s, while kto may still be handling it (a handler waits up to two minutes for GitHub's
   * reads), and the one it is handling records itself when it ends.
   */
  minAgeMs: number;
  /** Attempts at one event, GitHub's first included, after which kto stops asking. */
  maxAttempts: number;
}

export const MISSED_DELIVERIES: MissedDeliveryOptions = {
  intervalMs: 10 * 60_000,
  windowMs: 71 * 3_600_000,
  minAgeMs: 3 * 60_000,
  maxAttempts: 3,
};

/** One attempt in the App's delivery log, as GitHub lists it. */
interface LoggedDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  status_code: number;
  event: string;
  action?: string | null;
}

/**
 * Webhooks kto never handled, asked for again. GitHub logs every attempt at delivering an
 * event to the App and redelivers one only when asked; an event whose every attempt failed
 * (kto was down, unreachable, or its handler failed) and that kto has no record of handling
 * is redelivered, up to `maxAttempts` attempts in all. A push during an outage is then
 * handled once kto is back, instead of never.
 */
export class MissedDeliveries {
  /** Events given up on, said once per process. */
  private readonly givenUp = new Set<string>();

  constructor(
    private readonly deps: {
      appOctokit: () => Promise<Octokit>;
      deliveries: Pick<DeliveryLog, "deliverySeen">;
      now: () => number;
      log: { info(fields: object, message: string): void; warn(fields: object, message: string): void };
      options: MissedDeliveryOptions;
    },
  ) {}

  /** Looks through the delivery log once; the events it asked GitHub to deliver again. */
  async sweep(): Promise<string[]> {
    const { now, options, log } = this.deps;
    const octokit = await this.deps.appOctokit();
    const since = now() - options.windowMs;
    const events = new Map<string, { latest: LoggedDelivery; attempts: number; handled: boolean }>();
    // Newest first: the pages stop at the window's start.
    for await (const page of octokit.paginate.iterator(octokit.rest.apps.listWebhookDeliveries, { per_page: 100 })) {
      const deliveries = page.data as LoggedDelivery[];
      for (const delivery of deliveries) {
        if (Date.parse(delivery.delivered_at) < since) continue;
        const event = events.get(delivery.guid) ?? { latest: delivery, attempts: 0, handled: false };
        event.attempts += 1;
        if (delivery.status_code >= 200 && delivery.status_code < 300) event.handled = true;
        if (Date.parse(delivery.delivered_at) > Date.parse(event.latest.delivered_at)) event.latest = delivery;
        events.set(delivery.guid, event);
      }
      if (deliveries.some((d) => Date.parse(d.delivered_at) < since)) break;
    }
    const asked: string[] = [];
    for (const [guid, event] of events) {
      if (event.handled || now() - Date.parse(event.latest.delivered_at) < options.minAgeMs) continue;
      if (await this.deps.deliveries.deliverySeen(guid)) continue;
      const what = `${event.latest.event}${event.latest.action ? `.${event.latest.action}` : ""} delivery ${guid}`;
      if (event.attempts >= options.maxAttempts) {
        if (!this.givenUp.has(guid)) log.warn({ delivery: guid }, `kto: ${what} failed ${event.attempts} times; kto does not ask for it again`);
        this.givenUp.add(guid);
        continue;
      }
      await octokit.rest.apps.redeliverWebhookDelivery({ delivery_id: event.latest.id });
      log.info({ delivery: guid }, `kto: asked GitHub to deliver ${what} again (attempt ${event.attempts + 1}): kto has no record of handling it`);
      asked.push(guid);
    }
    return asked;
  }
}

/**
 * Sweeps at start and every `intervalMs`, on one replica at a time: the one holding the
 * store's lease-lock, renewed at each sweep, so another takes over when it dies.
 */
export function sweepMissedDeliveries(deps: {
  missed: Pick<MissedDeliveries, "sweep">;
  locks: Pick<Coordination, "acquireLock">;
  owner: string;
  clock: Pick<Clock, "now" | "setTimer">;
  intervalMs: number;
  log: { warn(fields: object, message: string): void };
}): { stop(): Promise<void> } {
  const { missed, locks, owner, clock, intervalMs, log } = deps;
  let stopped = false;
  let cancel = () => {};
  let running: Promise<void> = Promise.resolve();
  const sweep = async () => {
    try {
      if (await locks.acquireLock("missed-deliveries", owner, intervalMs, clock.now())) await missed.sweep();
    } catch (err) {
      log.warn({ err }, `kto: looking for webhooks GitHub could not deliver failed; kto looks again in ${Math.round(intervalMs / 60_000)} minutes`);
    }
    if (!stopped) cancel = clock.setTimer(() => (running = sweep()), intervalMs);
  };
  running = sweep();
  return {
    stop: async () => {
      stopped = true;
      cancel();
      await running;
    },
  };
}
