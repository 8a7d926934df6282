import { describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import type { RunnerPool } from "../../../src/orchestrator/resource-manager.js";
import { UNRESTRICTED } from "../../../src/orchestrator/scope.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import type { RunnerRecord, Store } from "../../../src/orchestrator/store/store.js";
import { RecordingDispatcher } from "../../helpers/orchestrator.js";
import { ENGINES, withStore } from "../../helpers/stores.js";

const runner = (id: string, now: number): RunnerRecord => ({
  id,
  pool: "shared",
  labels: ["x86_64"],
  capacity: 1,
  state: "online",
  lastSeen: now,
  owner: null,
  scope: UNRESTRICTED,
});

/**
 * Replicas share the store: one's listing may end after another has put runners there
 * (its own listing, a registration). The first must not take those offline as "no longer
 * listed": its listing began before they were there.
 */
describe.each(ENGINES)("a runner sync on %s", (engine) => {
  it("takes offline only the runners the store held before its listing began", async () => {
    await withStore(engine, async (store: Store) => {
      const clock = new ManualClock(1_000);
      let during: (() => Promise<void>) | null = null;
      const pool: RunnerPool = {
        name: "shared",
        list: async () => {
          await during?.();
          return [];
        },
      };
      const service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [pool], clock, options: { owner: "t" } });
      await store.runners.upsertRunners([runner("gone", clock.now())]);
      // Another replica lists the pool while this one does, and finds "fresh".
      during = () => store.runners.upsertRunners([runner("fresh", clock.now())]);
      await service.syncRunners();
      const states = new Map((await store.runners.list()).map((r) => [r.id, r.state]));
      expect(states).toEqual(
        new Map([
          ["fresh", "online"],
          ["gone", "offline"],
        ]),
      );
      // The next listing, which began with it there and does not show it, judges it.
      during = null;
      await service.syncRunners();
      expect((await store.runners.list()).find((r) => r.id === "fresh")?.state).toBe("offline");
      await service.stop();
    });
  });
});
