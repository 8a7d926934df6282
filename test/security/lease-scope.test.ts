import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { GitHubRunnerPool } from "../../src/app/github/github-runner-pool.js";
import { ManualClock } from "../../src/orchestrator/clock.js";
import { OrchestratorService } from "../../src/orchestrator/service.js";
import type { JobRecord, NewJob, Store } from "../../src/orchestrator/store/store.js";
import { selfHostedRunner, startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { DEFAULT_RUNNER_GROUP } from "../helpers/github-double/runner-groups.js";
import { installationGrants, installationOctokits } from "../helpers/installation-octokits.js";
import { RecordingDispatcher, storeJob } from "../helpers/orchestrator.js";
import { ENGINES, freshStore } from "../helpers/stores.js";

/**
 * A job is leased only to a runner GitHub would give its repository: one registered for
 * that repository, or an organisation's runner whose runner group admits it. The
 * orchestrator, its store and kto's runner pool against the GitHub API double, which
 * lists runners and runner groups as GitHub does.
 */

describe.each(ENGINES)("leases on %s", (engine) => {
  let github: GitHubApiDouble;
  let store: Store;
  let service: OrchestratorService;
  let pool: GitHubRunnerPool;
  let dispatcher: RecordingDispatcher;
  let clock: ManualClock;
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    const fresh = await freshStore(engine);
    store = fresh.store;
    dispose = fresh.dispose;
    clock = new ManualClock(1_000_000);
    const grants = installationGrants(github, () => clock.now());
    pool = new GitHubRunnerPool(store, installationOctokits(github), grants, () => clock.now());
    dispatcher = new RecordingDispatcher();
    service = new OrchestratorService({ store, dispatcher, pools: [pool], clock, options: { owner: "test" } });
  });

  afterEach(async () => {
    await service.sendDue();
    await dispose();
    await github.close();
  });

  async function submit(repo: string, repoPrivate: boolean, jobs: NewJob[]): Promise<void> {
    await service.submit({
      id: `${repo}#${jobs[0]!.id}`,
      source: ".github/kto.yml",
      workspace: repo,
      repo,
      repoPrivate,
      approved: true,
      now: clock.now(),
      jobs,
    });
  }

  async function jobs(): Promise<Map<string, JobRecord>> {
    return new Map((await store.jobs.list()).map((job) => [job.id, job]));
  }

  it("leases mallory's [a100] jobs to none of victim/kernel's a100 runners, and the victim's job behind them gets one", async () => {
    github.state.runners.set("victim/kernel", [selfHostedRunner(11, "victim-1", ["a100"]), selfHostedRunner(12, "victim-2", ["a100"])]);
    // Both installed the App, so kto lists both repositories' runners.
    pool.track("victim/kernel", 1);
    pool.track("mallory/anything", 2);
    await service.syncRunners();
    await submit("mallory/anything", false, [storeJob("m1", ["a100"], 4), storeJob("m2", ["a100"], 4)]);
    await submit("victim/kernel", true, [storeJob("v1", ["a100"], 1)]);

    for (let pass = 0; pass < 3; pass++) {
      await service.tick();
      clock.advance(5_000);
    }
    const after = await jobs();
    for (const id of ["m1", "m2"]) expect(after.get(id)).toMatchObject({ state: "queued", runnerId: null, attempt: 1 });
    // Queued ahead of it, with a higher priority, mallory's jobs hold nothing back.
    expect(after.get("v1")).toMatchObject({ state: "dispatched", runnerId: expect.stringMatching(/^github:victim\/kernel:1[12]$/) });
    await service.sendDue();
    expect(dispatcher.dispatched.map((d) => d.job.id)).toEqual(["v1"]);
    expect(github.rejected).toEqual([]);
  });

  it("leases an organisation's runner in a group of selected repositories only to those, and its Default group's to private repositories only", async () => {
    github.state.runners.set("org:acme", [selfHostedRunner(21, "acme-gpu", ["a100"], 5), selfHostedRunner(22, "acme-shared", ["x86_64"])]);
    github.state.runnerGroups.set("acme", [
      DEFAULT_RUNNER_GROUP,
      { id: 5, name: "gpu", visibility: "selected", allows_public_repositories: false, repositories: ["acme/kernel"] },
    ]);
    for (const repo of ["acme/website", "acme/kernel", "acme/docs"]) pool.track(repo, 3);
    await service.syncRunners();
    await submit("acme/website", true, [storeJob("website-gpu", ["a100"], 4), storeJob("website-build", ["x86_64"], 1)]);
    await submit("acme/docs", false, [storeJob("docs-build", ["x86_64"], 4)]);
    await submit("acme/kernel", true, [storeJob("kernel-gpu", ["a100"], 1)]);

    await service.tick();
    const after = await jobs();
    // The gpu group admits acme/kernel alone; the Default group keeps the public acme/docs out.
    expect(after.get("website-gpu")).toMatchObject({ state: "queued", runnerId: null });
    expect(after.get("kernel-gpu")).toMatchObject({ state: "dispatched", runnerId: "github:org:acme:21" });
    expect(after.get("docs-build")).toMatchObject({ state: "queued", runnerId: null });
    expect(after.get("website-build")).toMatchObject({ state: "dispatched", runnerId: "github:org:acme:22" });
    expect(github.rejected).toEqual([]);
  });

  it("leases an organisation's runners where the installation has no Administration permission (an organisation-only deployment), asking GitHub nothing it may not", async () => {
    const { administration: _, ...organizationOnly } = github.state.appPermissions;
    github.state.appPermissions = organizationOnly;
    github.state.runners.set("org:acme", [selfHostedRunner(22, "acme-shared", ["x86_64"])]);
    github.state.runners.set("acme/kernel", [selfHostedRunner(23, "kernel-own", ["x86_64"])]);
    pool.track("acme/kernel", 3);
    await service.syncRunners();
    await submit("acme/kernel", true, [storeJob("kernel-build", ["x86_64"], 1)]);
    await service.tick();
    expect((await jobs()).get("kernel-build")).toMatchObject({ state: "dispatched", runnerId: "github:org:acme:22" });
    expect(github.requests.map((r) => r.operationId)).not.toContain("actions/list-self-hosted-runners-for-repo");
    expect(github.rejected).toEqual([]);
  });

  it("keeps listing every other installation's runners when one was uninstalled unseen, and asks GitHub about that one once an hour, not every sync", async () => {
    github.state.runners.set("acme/kernel", [selfHostedRunner(31, "kernel-own", ["x86_64"])]);
    github.state.uninstalled.add(4);
    pool.track("gone/kernel", 4);
    pool.track("acme/kernel", 3);
    for (let sync = 0; sync < 3; sync++) {
      await service.syncRunners();
      clock.advance(60_000);
    }
    expect((await store.runners.list("github")).map((r) => r.id)).toEqual(["github:acme/kernel:31"]);
    const asked = github.requests.filter((r) => r.operationId === "apps/get-installation").map((r) => r.params.installation_id);
    expect(asked.sort()).toEqual(["3", "4"]);
    expect(github.rejected).toEqual([]);
  });

  it("reads an organisation's runner groups once per listing, and at a registration only for a group not read yet: never per job", async () => {
    github.state.runners.set("org:acme", [selfHostedRunner(21, "acme-gpu", ["a100"], 5)]);
    github.state.runnerGroups.set("acme", [
      DEFAULT_RUNNER_GROUP,
      { id: 5, name: "gpu", visibility: "selected", allows_public_repositories: false, repositories: ["acme/kernel"] },
      { id: 7, name: "boards", visibility: "selected", allows_public_repositories: false, repositories: ["acme/website"] },
    ]);
    pool.track("acme/kernel", 3);
    pool.track("acme/website", 3);
    await service.syncRunners();
    const reads = () => github.requests.filter((r) => r.operationId.startsWith("actions/list-") && r.operationId.includes("runner-group")).length;
    // The groups, and the repositories of the one group that has runners.
    expect(reads()).toBe(2);

    for (let i = 0; i < 5; i++) await submit("acme/kernel", true, [storeJob(`k${i}`, ["a100"], 2)]);
    for (let pass = 0; pass < 5; pass++) await service.tick();
    await pool.registered("org:acme", { id: 31, name: "acme-gpu-2", labels: [{ name: "a100" }], runner_group_id: 5 }, 3);
    expect(reads()).toBe(2);

    // A runner registered in a group no listing has read: that group is read, once.
    await pool.registered("org:acme", { id: 32, name: "acme-board", labels: [{ name: "arm64" }], runner_group_id: 7 }, 3);
    await pool.registered("org:acme", { id: 33, name: "acme-board-2", labels: [{ name: "arm64" }], runner_group_id: 7 }, 3);
    expect(reads()).toBe(4);
    await submit("acme/kernel", true, [storeJob("kernel-board", ["arm64"], 4)]);
    await submit("acme/website", true, [storeJob("website-board", ["arm64"], 1)]);
    await service.tick();
    const after = await jobs();
    expect(after.get("kernel-board")).toMatchObject({ state: "queued", runnerId: null });
    expect(after.get("website-board")).toMatchObject({ state: "dispatched", runnerId: expect.stringMatching(/^github:org:acme:3[23]$/) });
    expect(reads()).toBe(4);
    expect(github.rejected).toEqual([]);
  });
});
