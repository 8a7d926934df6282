import { describe, expect, it } from "@jest/globals";
import { GitHubRunnerPool } from "../../../src/app/github/github-runner-pool.js";
import { storeJob } from "../../helpers/orchestrator.js";
import { withStore, submitPlan } from "../../helpers/stores.js";

/** An installation granted both runner permissions: its repositories' runners and its organisation's. */
const GRANTED = { runnerGrantsOf: async () => ({ repository: true, organization: true }) };

/** The runner pool between GitHub's listings: a repository GitHub will not list, and a runner that is connecting or gone. */

describe("the runner pool between listings", () => {
  it("lists every other repository's runners when GitHub will not list one, and forgets one that is gone", async () => {
    await withStore("sqlite", async (store) => {
      const runner = { id: 5, name: "r5", status: "online", busy: false, labels: [{ name: "x86_64" }, { name: "kto-runner-r5" }] };
      const refused = (status: number, message: string) => Promise.reject(Object.assign(new Error(message), { status }));
      const listRepo = async ({ repo }: { repo: string }) =>
        repo === "gone" ? refused(404, "Not Found") : repo === "odd name" ? refused(422, "Validation Failed") : [runner];
      const octokit = {
        paginate: (list: (p: unknown) => Promise<unknown>, params: unknown) => list(params),
        rest: { actions: { listSelfHostedRunnersForRepo: listRepo, listSelfHostedRunnersForOrg: async () => refused(404, "Not Found") } },
      };
      const pool = new GitHubRunnerPool(
        store,
        async () => octokit as never,
        GRANTED,
        () => 1_000,
      );
      for (const repo of ["o/gone", "o/odd name", "o/r"]) pool.track(repo, 7);
      expect((await pool.list()).map((e) => e.id)).toEqual(["github:o/r:5"]);
      // The one that is gone is no longer asked for; the others still are.
      expect(pool.track("o/gone", 7)).toBe(true);
      expect(pool.track("o/odd name", 7)).toBe(false);
    });
  });

  it("keeps a just-registered runner while it connects, and lets it go once it started a job and went offline", async () => {
    await withStore("sqlite", async (store) => {
      let runners = [{ id: 5, name: "r5", status: "offline", busy: false, labels: [{ name: "x86_64" }, { name: "kto-runner-r5" }] }];
      const listRepo = async () => runners;
      const listOrg = async () => Promise.reject(Object.assign(new Error("Not Found"), { status: 404 }));
      const octokit = {
        paginate: (list: () => Promise<unknown>) => list(),
        rest: { actions: { listSelfHostedRunnersForRepo: listRepo, listSelfHostedRunnersForOrg: listOrg } },
      };
      const pool = new GitHubRunnerPool(
        store,
        async () => octokit as never,
        GRANTED,
        () => 1_000,
      );
      pool.track("o/r", 7);
      await pool.registered("o/r", { id: 5, name: "r5", labels: runners[0]!.labels }, 7);
      // GitHub lists a just-in-time runner offline until its process connects.
      expect((await pool.list()).map((e) => e.id)).toEqual(["github:o/r:5"]);
      await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: 1_000, jobs: [storeJob("j", [], 2)] });
      await store.transition({ jobId: "j", to: "dispatched", set: { runner_id: "github:o/r:5" }, now: 1_000 });
      await store.transition({ jobId: "j", to: "running", now: 1_000 });
      runners = [{ ...runners[0]!, status: "offline", busy: true }];
      // Its run ended without a report, so its repository is listed again. It ran the job,
      // so it had connected: offline now, its host is gone.
      pool.runLost("o/r");
      expect(await pool.list()).toEqual([]);
    });
  });
});
