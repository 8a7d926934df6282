import { describe, expect, it } from "@jest/globals";
import type { NewBisection } from "../../src/orchestrator/store/store.js";
import { ENGINES, withStore } from "../helpers/stores.js";

const bisection = (over: Partial<NewBisection> = {}): NewBisection => ({
  id: "a1",
  repo: "o/r",
  installationId: 1,
  jobKey: "unit",
  suite: "unit",
  goodSha: "good",
  badSha: "bad",
  tests: "[]",
  commits: "[]",
  state: '{"steps":[]}',
  status: "running",
  startedBy: "maintainer",
  createdAt: 1_000,
  ...over,
});

describe.each(ENGINES)("bisections on %s", (engine) => {
  it("keeps one bisection per repository, job and good commit, and moves it on only from the state read", async () => {
    await withStore(engine, async (store) => {
      expect((await store.bisections.create(bisection())).created).toBe(true);
      // A newer push of the same regression: same good commit, a later bad one.
      const again = await store.bisections.create(bisection({ id: "b2", badSha: "later" }));
      expect(again).toMatchObject({ created: false, record: { id: "a1", badSha: "bad" } });
      expect((await store.bisections.create(bisection({ id: "c3", jobKey: "other" }))).created).toBe(true);

      expect(await store.bisections.advance("a1", '{"steps":[]}', { state: '{"steps":[1]}', status: "running" })).toBe(true);
      expect(await store.bisections.advance("a1", '{"steps":[]}', { state: '{"steps":[2]}', status: "found" })).toBe(false);
      await store.bisections.setCheckRunId("a1", 2 ** 40);
      expect(await store.bisections.bisection("a1")).toMatchObject({ state: '{"steps":[1]}', status: "running", checkRunId: 2 ** 40, installationId: 1 });
    });
  });
});
