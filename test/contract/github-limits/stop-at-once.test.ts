import { afterEach, describe, expect, it } from "@jest/globals";
import { githubClient, type GitHubClient } from "../../../src/app/github/github-client.js";
import { RateLimitError } from "../../../src/app/github/github-limits.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { doubleAppSettings } from "../../helpers/app-settings.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { freshStore } from "../../helpers/stores.js";
import { REPO, shaOf } from "./harness.js";

/** After a limit answer, nothing more goes out: not the writes Octokit's throttling had queued, not the App's own calls while the App waits. */

describe("the App's octokits after a limit answer", () => {
  let github: GitHubApiDouble;
  let dispose: () => Promise<void>;
  afterEach(async () => {
    await github?.close();
    await dispose?.();
  });

  async function client(limits: { contentPerMinute?: number } = {}): Promise<GitHubClient> {
    const clock = new ManualClock(1_700_000_000_000);
    github = await startGitHubApiDouble({ limits, now: () => clock.now() });
    const fresh = await freshStore("sqlite");
    dispose = fresh.dispose;
    return githubClient(doubleAppSettings(github.url, { WEBHOOK_SECRET: "s" }), { clock, throttled: true, logLevel: "fatal", store: fresh.store });
  }

  it("sends none of the writes queued behind a write GitHub answered with a secondary limit", async () => {
    // The second check run in a minute is over the double's limit; throttling spaces the four a second apart.
    const client_ = await client({ contentPerMinute: 1 });
    const octokit = await client_.octokitFor(7);
    const [owner, repo] = REPO.split("/") as [string, string];
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => octokit.rest.checks.create({ owner, repo, name: `kto / unit ${n}`, head_sha: shaOf(n) })));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "rejected"]);
    for (const r of results.slice(1)) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RateLimitError);
    expect(github.requests.filter((r) => r.operationId === "checks/create")).toHaveLength(2);
    expect(github.limiter!.stats.whileAskedToWait).toBe(0);
    expect(await client_.limits.paused()).toBe(1);
  }, 30_000);

  it("puts the App's own calls through a budget and pause of their own", async () => {
    const client_ = await client();
    const app = await client_.appOctokit();
    // The installation's token made before: making one is one of the App's own calls.
    const octokit = await client_.octokitFor(7);
    const [owner, repo] = REPO.split("/") as [string, string];
    github.state.files.set(`${REPO}@main:.github/kto.yml`, "version: 1\n");
    const readConfig = () => octokit.rest.repos.getContent({ owner, repo, path: ".github/kto.yml", ref: "main" });
    await readConfig();
    github.state.failures.set("apps/get-authenticated", [{ limit: "secondary", retryAfterS: 5 }]);
    await expect(app.rest.apps.getAuthenticated()).rejects.toBeInstanceOf(RateLimitError);
    await expect(app.rest.apps.getAuthenticated()).rejects.toMatchObject({ installationId: 0, limit: "secondary" });
    expect(github.requests.filter((r) => r.operationId === "apps/get-authenticated")).toHaveLength(1);
    // An installation's requests do not wait for the App's.
    await readConfig();
    expect(await client_.limits.paused()).toBe(0);
  });
});
