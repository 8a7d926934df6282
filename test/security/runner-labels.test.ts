import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { GitHubRunnerPool } from "../../src/app/github/github-runner-pool.js";
import { ManualClock } from "../../src/orchestrator/clock.js";
import type { Store } from "../../src/orchestrator/store/store.js";
import { startGitHubApiDouble, type GitHubApiDouble, type Runner } from "../helpers/github-api-double.js";
import { installationGrants, installationOctokits } from "../helpers/installation-octokits.js";
import { RecordingLogger } from "../helpers/recording-logger.js";
import { freshStore } from "../helpers/stores.js";

/**
 * A registration token lets whoever holds it register a runner with any labels. The App
 * leases a job to one runner by its kto-runner-<name> label, so every runner it learns of
 * is held to the label rule: the only kto-runner-<name> label a runner may have is its
 * own, and one that two runners carry binds a job to neither.
 */

const ORG = "octo-org";
const REPO = `${ORG}/kernel`;

const runner = (id: number, name: string, labels: string[]): Runner => ({
  id,
  name,
  os: "Linux",
  status: "online",
  busy: false,
  labels: ["self-hosted", ...labels].map((label, i) => ({ id: i + 1, name: label, type: "custom" as const })),
});

describe("runners whose labels break the label rule get no job", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  let logger: RecordingLogger;
  let pool: GitHubRunnerPool;
  let clock: ManualClock;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    ({ store, dispose } = await freshStore("sqlite"));
    clock = new ManualClock(1_700_000_000_000);
    logger = new RecordingLogger();
    pool = new GitHubRunnerPool(
      store,
      installationOctokits(github),
      installationGrants(github, () => clock.now()),
      () => clock.now(),
      logger,
    );
    pool.track(REPO, 1);
  });

  afterEach(async () => {
    await dispose();
    await github.close();
  });

  it("keeps out a runner carrying another runner's kto-runner label, in any case, and says so", async () => {
    github.state.runners.set(REPO, [
      runner(5, "victim-1", ["x86_64", "kto-runner-victim-1"]),
      runner(6, "thief-1", ["x86_64", "kto-runner-thief-1", "KTO-Runner-victim-1"]),
      runner(7, "thief-2", ["x86_64", "kto-runner-victim-2"]),
    ]);
    expect((await pool.list()).map((r) => r.id)).toEqual([`github:${REPO}:5`]);
    expect(pool.refusedRunners()).toBe(2);
    expect(logger.lines.map((l) => l.message)).toEqual([
      `kto gives runner github:${REPO}:6 no job: runner thief-1 carries KTO-Runner-victim-1: the only kto-runner-<name> label a runner may have is its own`,
      `kto gives runner github:${REPO}:7 no job: runner thief-2 carries kto-runner-victim-2: the only kto-runner-<name> label a runner may have is its own`,
    ]);
  });

  it("gives no job to either of two runners carrying one kto-runner label, the one kto registered included, until one is gone", async () => {
    // kto registered victim-1 for the repository; someone with the organisation's token registered a runner of the same name there.
    await pool.registered(REPO, { id: 5, name: "victim-1", labels: [{ name: "x86_64" }, { name: "kto-runner-victim-1" }] }, 1);
    github.state.runners.set(REPO, [{ ...runner(5, "victim-1", ["x86_64", "kto-runner-victim-1"]) }]);
    github.state.runners.set(`org:${ORG}`, [runner(70, "victim-1", ["x86_64", "kto-runner-victim-1"])]);
    github.state.runnerGroups.set(ORG, [{ id: 1, name: "Default", visibility: "all", allows_public_repositories: true }]);
    expect(await pool.list()).toEqual([]);
    expect(pool.refusedRunners()).toBe(2);
    // The organisation's runner is gone: its listing, next period, shows none.
    github.state.runners.set(`org:${ORG}`, []);
    clock.advance(60_000);
    pool.runLost(REPO);
    expect((await pool.list()).map((r) => r.id)).toEqual([`github:${REPO}:5`]);
    expect(pool.refusedRunners()).toBe(0);
  });
});
