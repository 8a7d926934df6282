import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { GitHubRunnerPool } from "../../../src/app/github/github-runner-pool.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { installationGrants, installationOctokits } from "../../helpers/installation-octokits.js";
import { RecordingLogger } from "../../helpers/recording-logger.js";
import { freshStore } from "../../helpers/stores.js";

/**
 * What the GitHub runner pool changes on a failed answer it keeps going past, it logs with
 * the answer: a repository whose runners GitHub no longer lists is no longer tracked, and a
 * registered runner whose group could not be read takes no job until a listing reads it.
 */

const REPO = "Codertocat/Hello-World";

describe("the GitHub runner pool keeps the cause of what a failed answer changes", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  let logger: RecordingLogger;
  let pool: GitHubRunnerPool;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    ({ store, dispose } = await freshStore("sqlite"));
    const clock = new ManualClock(1_700_000_000_000);
    logger = new RecordingLogger();
    const grants = installationGrants(github, () => clock.now());
    pool = new GitHubRunnerPool(store, installationOctokits(github), grants, () => clock.now(), logger);
  });

  afterEach(async () => {
    await dispose();
    await github.close();
  });

  it("stops tracking a repository whose runners GitHub answers 404 for, and logs that answer", async () => {
    pool.track(REPO, 1);
    github.state.failures.set("actions/list-self-hosted-runners-for-repo", [404]);
    expect(await pool.list()).toEqual([]);
    expect(logger.lines).toEqual([
      {
        level: "warn",
        message: `GitHub does not list the runners of ${REPO} (404: gone, renamed, or not this installation's); kto stops tracking it`,
        err: expect.objectContaining({ status: 404 }),
      },
    ]);
    // No longer tracked: the next listing does not ask again.
    expect(pool.track(REPO, 1)).toBe(true);
  });

  it("puts a registered runner whose group GitHub did not answer for in the pool without a repository, and logs why", async () => {
    github.state.failures.set("actions/list-self-hosted-runner-groups-for-org", [502]);
    await pool.registered("org:Codertocat", { id: 41, name: "rack-9", labels: [{ name: "x86_64" }], runner_group_id: 3 }, 1);
    const [env] = await store.runners.list();
    expect(env).toMatchObject({ id: "github:org:Codertocat:41", state: "online", scope: { kind: "none" } });
    expect(logger.lines).toEqual([
      {
        level: "warn",
        message: "reading runner group 3 of Codertocat failed; runner rack-9 takes no job until the next listing reads it",
        err: expect.objectContaining({ status: 502 }),
      },
    ]);
    expect(github.rejected).toEqual([]);
  });
});
