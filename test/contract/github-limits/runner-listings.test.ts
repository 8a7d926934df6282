import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { GitHubRunnerPool } from "../../../src/app/github/github-runner-pool.js";
import { REPOSITORY_BACKSTOP_MS } from "../../../src/app/github/listing-schedule.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { DEFAULT_LIFECYCLE } from "../../../src/orchestrator/job-lifecycle.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { startGitHubApiDouble, type GitHubApiDouble, type Runner } from "../../helpers/github-api-double.js";
import { installationGrants, installationOctokits } from "../../helpers/installation-octokits.js";
import { storeJob } from "../../helpers/orchestrator.js";
import { freshStore, submitPlan } from "../../helpers/stores.js";

/**
 * What listing runners costs an hour, against the GitHub API double, on a clock the test
 * moves: the pool is synced every minute, as KTO_RUNNER_SYNC_SECONDS=60 has it, and the
 * listing requests are counted.
 */

const ORG = "octo-org";
const MINUTE = 60_000;
const INSTALLATION = 1;

const runner = (id: number, name: string, labels: string[]): Runner => ({
  id,
  name,
  os: "Linux",
  status: "online",
  busy: false,
  labels: ["self-hosted", ...labels, `kto-runner-${name}`].map((label, i) => ({ id: i + 1, name: label, type: "custom" as const })),
});

const isListing = (operationId: string) =>
  operationId.startsWith("actions/list-self-hosted-runner") || operationId === "actions/list-repo-access-to-self-hosted-runner-group-in-org";

describe("listing runners costs the same for 1 repository or 1,000", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  let clock: ManualClock;
  let pool: GitHubRunnerPool;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    ({ store, dispose } = await freshStore("sqlite"));
    clock = new ManualClock(1_700_000_000_000);
    pool = new GitHubRunnerPool(
      store,
      installationOctokits(github),
      installationGrants(github, () => clock.now()),
      () => clock.now(),
      undefined,
      {
        organizationMs: MINUTE,
        repositoryBackstopMs: REPOSITORY_BACKSTOP_MS,
      },
    );
    // The organisation's runners serve every repository of it, public ones too.
    github.state.runnerGroups.set(ORG, [{ id: 1, name: "Default", visibility: "all", allows_public_repositories: true }]);
    github.state.runners.set(`org:${ORG}`, [runner(70, "org-rack", ["x86_64"])]);
  });

  afterEach(async () => {
    await dispose();
    await github.close();
  });

  /** What the resource manager does with a listing: the store takes it. */
  const sync = async () => {
    const listed = await pool.list();
    await store.runners.upsertRunners(listed.map((env) => ({ ...env, lastSeen: clock.now() })));
    return listed;
  };
  const listings = () => github.requests.filter((r) => isListing(r.operationId));

  /** Syncs at the start and every minute for an hour: the listing requests sent. */
  async function anHour(): Promise<number> {
    const before = listings().length;
    await sync();
    for (let minute = 1; minute <= 60; minute++) {
      clock.advance(MINUTE);
      await sync();
    }
    return listings().length - before;
  }

  /** An hour of a pool of its own, from its start, tracking `repositories` of the organisation. */
  async function anHourWith(repositories: number): Promise<number> {
    const own = await freshStore("sqlite");
    try {
      store = own.store;
      pool = new GitHubRunnerPool(
        store,
        installationOctokits(github),
        installationGrants(github, () => clock.now()),
        () => clock.now(),
        undefined,
        {
          organizationMs: MINUTE,
          repositoryBackstopMs: REPOSITORY_BACKSTOP_MS,
        },
      );
      for (let i = 0; i < repositories; i++) pool.track(`${ORG}/repo-${i}`, INSTALLATION);
      return await anHour();
    } finally {
      await own.dispose();
    }
  }

  it("sends as many listing requests in an hour for 1,000 tracked repositories as for 1", async () => {
    const one = await anHourWith(1);
    const thousand = await anHourWith(1_000);
    expect(thousand).toBe(one);
    // The organisation and its runner groups, once a minute: 61 syncs.
    expect(one).toBe(2 * 61);
    expect(listings().filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo")).toEqual([]);
    expect(github.rejected).toEqual([]);
  });

  it("finds a runner only a listing of its repository shows, when a workflow_job names it, listing that repository alone", async () => {
    for (let i = 0; i < 1_000; i++) pool.track(`${ORG}/repo-${i}`, INSTALLATION);
    await sync();
    // Someone registers a runner for one repository outside kto; a job of theirs starts on it.
    github.state.runners.set(`${ORG}/repo-500`, [runner(900, "lab-board", ["arm64"])]);
    expect(pool.knownRunnerOf(`${ORG}/repo-500`, 900)).toBeNull();
    expect(pool.unknownRunner(`${ORG}/repo-500`, 900)).toBe(true);
    // Once for that runner: a second event naming it asks for nothing more.
    expect(pool.unknownRunner(`${ORG}/repo-500`, 900)).toBe(false);
    const before = listings().length;
    const listed = await sync();
    expect(listed.map((r) => r.id).sort()).toEqual([`github:${ORG}/repo-500:900`, `github:org:${ORG}:70`]);
    expect(
      listings()
        .slice(before)
        .map((r) => r.path),
    ).toEqual([expect.stringMatching(`/repos/${ORG}/repo-500/actions/runners`)]);
    // The organisation's period is not up: it was not listed again. Nor, a minute on, is the repository.
    clock.advance(MINUTE);
    await sync();
    expect(
      listings()
        .slice(before)
        .filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo"),
    ).toHaveLength(1);
    expect(pool.knownRunnerOf(`${ORG}/repo-500`, 900)).toBe(`github:${ORG}/repo-500:900`);
    expect(github.rejected).toEqual([]);
  });

  it("lists a repository seen for the first time that no runner kto knows may serve, and finds its runners", async () => {
    github.state.runners.set("someone/kernel", [runner(5, "desk", ["x86_64"])]);
    pool.track("someone/kernel", INSTALLATION);
    expect((await sync()).map((r) => r.id)).toContain("github:someone/kernel:5");
    // Known now, it is listed again only when something is unknown, or after the backstop.
    const before = listings().filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo").length;
    expect(before).toBe(1);
    const repositoryListings = () => listings().filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo").length;
    await anHour();
    expect(repositoryListings()).toBe(1);
    clock.advance(REPOSITORY_BACKSTOP_MS);
    await sync();
    expect(repositoryListings()).toBe(2);
  });

  it("lists a repository whose dispatched job has not started on its runner within the grace, once", async () => {
    github.state.runners.set("someone/kernel", [runner(5, "desk", ["x86_64"])]);
    pool.track("someone/kernel", INSTALLATION);
    await sync();
    await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: clock.now(), jobs: [storeJob("j", [], 2)] });
    await store.transition({ jobId: "j", to: "dispatched", set: { runner_id: "github:someone/kernel:5" }, now: clock.now() });
    // Its host is gone, and GitHub has removed the runner.
    github.state.runners.set("someone/kernel", []);
    const repositoryListings = () => listings().filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo").length;
    clock.advance(MINUTE);
    expect((await sync()).map((r) => r.id)).toContain("github:someone/kernel:5");
    expect(repositoryListings()).toBe(1);
    clock.advance(2 * MINUTE);
    expect((await sync()).map((r) => r.id)).not.toContain("github:someone/kernel:5");
    expect(repositoryListings()).toBe(2);
    clock.advance(MINUTE);
    await sync();
    expect(repositoryListings()).toBe(2);
  });

  it("lists a repository whose running job has sent no heartbeat for 45 s, once, and not while heartbeats come", async () => {
    github.state.runners.set("someone/kernel", [runner(5, "desk", ["x86_64"])]);
    pool.track("someone/kernel", INSTALLATION);
    await sync();
    await submitPlan(store, { id: "p", source: "s", workspace: "/w", approved: true, now: clock.now(), jobs: [storeJob("j", [], 2)] });
    await store.transition({ jobId: "j", to: "dispatched", set: { runner_id: "github:someone/kernel:5" }, now: clock.now() });
    const lease = DEFAULT_LIFECYCLE.leaseMs;
    await store.transition({ jobId: "j", from: ["dispatched"], to: "running", set: { lease_expires: clock.now() + lease }, now: clock.now() });
    const repositoryListings = () => listings().filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo").length;
    // Heartbeats every 30 s renew the lease: no listing.
    for (let i = 0; i < 4; i++) {
      clock.advance(30_000);
      await store.jobs.renewLease("j", 1, clock.now() + lease);
      await sync();
    }
    expect(repositoryListings()).toBe(1);
    // The host loses power: no heartbeat since, and GitHub shows its runner offline.
    github.state.runners.set("someone/kernel", [{ ...runner(5, "desk", ["x86_64"]), status: "offline" }]);
    clock.advance(30_000);
    expect((await sync()).map((r) => r.id)).toContain("github:someone/kernel:5");
    expect(repositoryListings()).toBe(1);
    clock.advance(30_000);
    expect((await sync()).map((r) => r.id)).not.toContain("github:someone/kernel:5");
    expect(repositoryListings()).toBe(2);
    clock.advance(MINUTE);
    await sync();
    expect(repositoryListings()).toBe(2);
  });

  it("lists again the repository of an ephemeral runner kto did not register once it took its job, for the one that replaces it", async () => {
    github.state.runners.set("someone/kernel", [{ ...runner(5, "scale-set-1", ["x86_64"]), ephemeral: true }]);
    pool.track("someone/kernel", INSTALLATION);
    await sync();
    github.state.runners.set("someone/kernel", [{ ...runner(6, "scale-set-2", ["x86_64"]), ephemeral: true }]);
    expect(await pool.observe({ repo: "someone/kernel", action: "in_progress", runnerId: 5, ours: true })).toBeNull();
    expect(await pool.observe({ repo: "someone/kernel", action: "completed", runnerId: 5, ours: true })).toMatchObject({ gone: "github:someone/kernel:5" });
    expect((await sync()).map((r) => r.id)).toEqual(["github:someone/kernel:6"]);
  });
});
