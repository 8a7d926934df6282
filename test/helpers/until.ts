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
