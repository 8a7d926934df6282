/** Polls `probe` until it returns something truthy, and returns that; fails naming `what` after `limitMs`. */
export async function until<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, limitMs = 60_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Lets the promises that timers started settle. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * `until` on a manual clock: steps it (`step`) and lets what the timers started settle,
 * until `condition` holds or `limit` steps have passed; says whether it held.
 */
export async function advanceUntil(condition: () => Promise<boolean>, step: () => void, limit = 400): Promise<boolean> {
  for (let i = 0; i < limit; i++) {
    if (await condition()) return true;
    step();
    await settle();
  }
  return condition();
}

/** What `untilSettled` watches: an App's orchestrator and the GitHub double it calls. */
export interface Settling {
  app: { service: { health(): Promise<{ lastTickAt: number | null; outboxPending: number }> } };
  github: { readonly unanswered: number };
}

/**
 * Waits until the App has done all it will do with what it has been sent so far, so that a
 * test can check that something did not happen. A queue pass that started after this call
 * has ended (the next one has started: passes run one after another), so a job that became
 * dispatchable has been dispatched; then the outbox holds nothing undelivered and GitHub has
 * answered every request, twice in a row, so an effect that another one's delivery records
 * is not missed between the two. On the system clock only: a manual one's ticks do not move.
 */
export async function untilSettled({ app, github }: Settling, limitMs = 30_000): Promise<void> {
  const tick = async () => (await app.service.health()).lastTickAt ?? -Infinity;
  const from = Date.now();
  const first = await until(
    async () => {
      const at = await tick();
      return at > from ? at : null;
    },
    "a queue pass after the last event",
    limitMs,
  );
  await until(async () => (await tick()) > first, "the next queue pass", limitMs);
  let quietProbes = 0;
  await until(
    async () => {
      const quiet = (await app.service.health()).outboxPending === 0 && github.unanswered === 0;
      quietProbes = quiet ? quietProbes + 1 : 0;
      return quietProbes >= 2;
    },
    "the outbox delivered and every GitHub request answered",
    limitMs,
  );
}
