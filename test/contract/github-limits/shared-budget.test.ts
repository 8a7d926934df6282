import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import {
  GitHubLimits,
  RateLimitError,
  SECONDARY_PAUSE_CAP_MS,
  SECONDARY_PAUSE_MS,
  SECONDARY_QUIET_MS,
  type Budget,
} from "../../../src/app/github/github-limits.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { openStore } from "../../../src/orchestrator/store/open-store.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { ENGINES, freshStore, type EngineName } from "../../helpers/stores.js";

/** GitHub's limits kept in the store: replicas spend from one budget, a restart remembers it, a pause holds for all. */

const BUDGET: Budget = { pointsPerMinute: 24, contentPerMinute: 3, contentPerHour: 5 };
const INSTALLATION = 7;
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Two replicas' stores: on SQLite one store (one process's file), on PostgreSQL two pools on one database. */
async function twoReplicas(engine: EngineName): Promise<{ stores: [Store, Store]; dispose: () => Promise<void> }> {
  const fresh = await freshStore(engine);
  if (engine === "sqlite") return { stores: [fresh.store, fresh.store], dispose: fresh.dispose };
  const second = await openStore(fresh.location);
  return {
    stores: [fresh.store, second],
    dispose: async () => {
      await second.close();
      await fresh.dispose();
    },
  };
}

const limitsOn = (store: Store, clock: ManualClock, budget: Budget | null = BUDGET) =>
  new GitHubLimits({ store: store.githubBudget, now: () => clock.now(), budget });

/** Admitted or refused for the budget, anything else thrown on. */
async function tryAdmit(limits: GitHubLimits, method: string): Promise<boolean> {
  try {
    await limits.admit(INSTALLATION, method, "/repos/{owner}/{repo}/check-runs");
    return true;
  } catch (error) {
    if (error instanceof RateLimitError) return false;
    throw error;
  }
}

const secondaryLimit = (retryAfterS?: number) =>
  Object.assign(new Error("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."), {
    status: 403,
    response: { headers: { "x-ratelimit-remaining": "4000", ...(retryAfterS === undefined ? {} : { "retry-after": String(retryAfterS) }) } },
  });

describe.each(ENGINES)("GitHub's budget in the store on %s", (engine) => {
  it("lets two replicas together spend no more than the budget, however their requests interleave", async () => {
    const { stores, dispose } = await twoReplicas(engine);
    try {
      let installation = 100;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              requests: fc.array(fc.record({ replica: fc.integer({ min: 0, max: 1 }), method: fc.constantFrom("GET", "POST", "PATCH") }), {
                minLength: 1,
                maxLength: 6,
              }),
              advanceMs: fc.constantFrom(0, 1_000, 20_000, 61_000, 15 * MINUTE),
            }),
            { minLength: 1, maxLength: 12 },
          ),
          async (batches) => {
            const clock = new ManualClock(1_700_000_000_000);
            const replicas = stores.map((store) => new GitHubLimits({ store: store.githubBudget, now: () => clock.now(), budget: BUDGET }));
            const id = installation++;
            const sent: { at: number; points: number; content: boolean }[] = [];
            for (const batch of batches) {
              // A batch's requests race each other, from both replicas at once.
              await Promise.all(
                batch.requests.map(async ({ replica, method }) => {
                  try {
                    await replicas[replica]!.admit(id, method, "/repos/{owner}/{repo}/check-runs");
                    sent.push({ at: clock.now(), points: method === "GET" ? 1 : 5, content: method === "POST" });
                  } catch (error) {
                    if (!(error instanceof RateLimitError)) throw error;
                  }
                }),
              );
              clock.advance(batch.advanceMs);
            }
            for (const { at } of sent) {
              const inMinute = sent.filter((s) => s.at > at - MINUTE && s.at <= at);
              const inHour = sent.filter((s) => s.at > at - HOUR && s.at <= at);
              expect(inMinute.reduce((sum, s) => sum + s.points, 0)).toBeLessThanOrEqual(BUDGET.pointsPerMinute);
              expect(inMinute.filter((s) => s.content).length).toBeLessThanOrEqual(BUDGET.contentPerMinute);
              expect(inHour.filter((s) => s.content).length).toBeLessThanOrEqual(BUDGET.contentPerHour);
            }
          },
        ),
        { numRuns: 25 },
      );
    } finally {
      await dispose();
    }
  });

  it("sees one replica's pause from the other, for the App's own calls apart from an installation's", async () => {
    const { stores, dispose } = await twoReplicas(engine);
    try {
      const clock = new ManualClock(1_700_000_000_000);
      const [a, b] = stores.map((store) => limitsOn(store, clock, null)) as [GitHubLimits, GitHubLimits];
      const sentAt = await a.admit(INSTALLATION, "POST", "/repos/{owner}/{repo}/check-runs");
      expect(await a.refused(INSTALLATION, secondaryLimit(), sentAt)).toBeInstanceOf(RateLimitError);
      await expect(b.admit(INSTALLATION, "GET", "/repos/{owner}/{repo}/check-runs")).rejects.toMatchObject({
        limit: "secondary",
        retryAt: clock.now() + SECONDARY_PAUSE_MS,
      });
      expect(await b.paused()).toBe(1);
      await b.admit(0, "GET", "/app");
      clock.advance(SECONDARY_PAUSE_MS);
      await b.admit(INSTALLATION, "GET", "/repos/{owner}/{repo}/check-runs");
      expect(await a.paused()).toBe(0);
    } finally {
      await dispose();
    }
  });

  it("backs off a secondary limit exponentially up to an hour, honours a longer retry-after, and starts over after a quiet while", async () => {
    const { stores, dispose } = await twoReplicas(engine);
    try {
      const clock = new ManualClock(1_700_000_000_000);
      const limits = limitsOn(stores[0], clock, null);
      const pauses: number[] = [];
      const limitAnswered = async (retryAfterS?: number) => {
        const sentAt = await limits.admit(INSTALLATION, "POST", "/repos/{owner}/{repo}/check-runs");
        const error = (await limits.refused(INSTALLATION, secondaryLimit(retryAfterS), sentAt)) as RateLimitError;
        pauses.push(error.retryAt - clock.now());
        clock.advance(error.retryAt - clock.now());
      };
      for (let i = 0; i < 8; i++) await limitAnswered();
      expect(pauses).toEqual([1, 2, 4, 8, 16, 32, 60, 60].map((m) => m * MINUTE));
      expect(SECONDARY_PAUSE_CAP_MS).toBe(60 * MINUTE);
      // Quiet long enough: a minute again, unless GitHub asks for longer.
      clock.advance(SECONDARY_QUIET_MS);
      await limitAnswered(300);
      await limitAnswered();
      expect(pauses.slice(8)).toEqual([5 * MINUTE, 2 * MINUTE]);
    } finally {
      await dispose();
    }
  });

  it("counts answers to requests sent before a pause began as that pause, not as new ones", async () => {
    const { stores, dispose } = await twoReplicas(engine);
    try {
      const clock = new ManualClock(1_700_000_000_000);
      const limits = limitsOn(stores[0], clock, null);
      const sent = await Promise.all([1, 2, 3].map(() => limits.admit(INSTALLATION, "POST", "/repos/{owner}/{repo}/check-runs")));
      const answers: RateLimitError[] = [];
      for (const at of sent) answers.push((await limits.refused(INSTALLATION, secondaryLimit(), at)) as RateLimitError);
      expect(answers.map((a) => a.retryAt - clock.now())).toEqual([MINUTE, MINUTE, MINUTE]);
    } finally {
      await dispose();
    }
  });
});

describe("GitHub's budget across a restart", () => {
  it("remembers the hour's spend and a pause when the App starts again on the same store", async () => {
    const fresh = await freshStore("sqlite");
    const clock = new ManualClock(1_700_000_000_000);
    try {
      const before = limitsOn(fresh.store, clock);
      for (let i = 0; i < BUDGET.contentPerHour; i++) {
        expect(await tryAdmit(before, "POST")).toBe(true);
        clock.advance(MINUTE);
      }
      await fresh.store.close();
      const reopened = await openStore(fresh.location);
      try {
        const after = limitsOn(reopened, clock);
        expect(await tryAdmit(after, "POST")).toBe(false);
        expect(await tryAdmit(after, "GET")).toBe(true);
        const sentAt = await after.admit(INSTALLATION, "GET", "/repos/{owner}/{repo}/check-runs");
        await after.refused(INSTALLATION, secondaryLimit(), sentAt);
      } finally {
        await reopened.close();
      }
      const again = await openStore(fresh.location);
      try {
        expect(await limitsOn(again, clock).paused()).toBe(1);
        // The first content of the hour leaves it an hour after it was sent.
        clock.advance(HOUR - BUDGET.contentPerHour * MINUTE + 1);
        expect(await tryAdmit(limitsOn(again, clock), "POST")).toBe(true);
      } finally {
        await again.close();
      }
    } finally {
      await fresh.dispose().catch(() => undefined);
    }
  });
});
