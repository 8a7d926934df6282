import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import type { TokenGrant } from "../../../src/app/http/token-registration.js";
import { configureRunner, REGISTRATION_TOKEN_MS } from "../../helpers/github-double/registration-tokens.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { startTestApp, type TestApp } from "../../helpers/test-app.js";

/**
 * What registering a runner per job costs in GitHub's content-creating requests: runner
 * hosts register through the App with the registration token it holds, as
 * kto-runner-host.sh does, each of their ephemeral runners taking one job. The double
 * stands in for config.sh: it registers a runner only with a token of its scope that has
 * not expired.
 */

const REPO = "octo-org/kernel";
const SECRET = "t".repeat(40);
const MINUTE = 60_000;

describe("runner registration with a registration token", () => {
  let clock: ManualClock;
  let github: GitHubApiDouble;
  let running: TestApp;
  const allowed = process.env.KTO_RUNNER_REPOSITORIES;

  beforeAll(async () => {
    process.env.KTO_RUNNER_REPOSITORIES = REPO;
    clock = new ManualClock(Date.now());
    github = await startGitHubApiDouble({ now: () => clock.now() });
    github.state.installations.set(REPO, 42);
    running = await startTestApp({ github, server: "github.com", settings: { KTO_RUNNER_REGISTRATION_SECRET: SECRET }, start: { clock } });
  });

  afterAll(async () => {
    if (allowed === undefined) delete process.env.KTO_RUNNER_REPOSITORIES;
    else process.env.KTO_RUNNER_REPOSITORIES = allowed;
    await running.close();
    await github.close();
  });

  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${running.app.url}/kto/api/runners/${route}`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  /** One ephemeral runner of `host`, as kto-runner-host.sh registers it: a token from the App, config.sh, the runner's id to the App. */
  async function registerRunner(host: string, n: number): Promise<number> {
    const name = `${host}-${n}`;
    const registration = { repository: REPO, name, labels: ["x86_64", `kto-runner-${name}`] };
    const granted = await post("registration-token", registration);
    expect(granted.status).toBe(201);
    const grant = granted.body as unknown as TokenGrant;
    expect(grant).toMatchObject({ url: `https://github.com/${REPO}`, name, labels: registration.labels, runnerGroup: null });
    const runner = configureRunner(github.state, { scope: REPO, token: grant.token, name, labels: grant.labels, ephemeral: true });
    expect((await post("registered", { ...registration, runner_id: runner.id })).status).toBe(201);
    return runner.id;
  }

  const tokenRequests = () => github.requests.filter((r) => r.operationId === "actions/create-registration-token-for-repo").length;

  it("costs 200 jobs on 10 runner hosts over two hours 3 content-creating requests (0.015 a job), and every runner is in the pool at once", async () => {
    const before = tokenRequests();
    const ids: number[] = [];
    // Each host's runner takes a job every 6 minutes: 20 runners a host, one per job.
    for (let round = 0; round < 20; round++) {
      for (let host = 0; host < 10; host++) ids.push(await registerRunner(`host-${host}`, round));
      clock.advance(6 * MINUTE);
    }
    const requests = tokenRequests() - before;
    // A token lasts an hour and is renewed when 10 minutes or less are left: at 0, 54 and 108 minutes.
    expect(requests).toBe(3);
    expect(requests / ids.length).toBe(0.015);
    expect(github.requests.filter((r) => r.operationId.startsWith("actions/generate-runner-jitconfig"))).toEqual([]);
    const pool = new Set((await running.app.store.runners.list()).filter((r) => r.state === "online").map((r) => r.id));
    expect(ids.filter((id) => !pool.has(`github:${REPO}:${id}`))).toEqual([]);
    expect(github.rejected).toEqual([]);
  });

  it("hands every host the one token while it has more than 10 minutes left, and a fresh one after", async () => {
    // The token of the test before has expired.
    clock.advance(REGISTRATION_TOKEN_MS);
    const first = (await post("registration-token", { repository: REPO, name: "a-1", labels: ["kto-runner-a-1"] })).body.token;
    clock.advance(REGISTRATION_TOKEN_MS - 11 * MINUTE);
    expect((await post("registration-token", { repository: REPO, name: "b-1", labels: ["kto-runner-b-1"] })).body.token).toBe(first);
    clock.advance(2 * MINUTE);
    expect((await post("registration-token", { repository: REPO, name: "c-1", labels: ["kto-runner-c-1"] })).body.token).not.toBe(first);
  });

  it("names an organisation's runner group to config.sh as GitHub names it, reading the groups once", async () => {
    const organizations = process.env.KTO_RUNNER_ORGANIZATIONS;
    const groups = process.env.KTO_RUNNER_GROUPS;
    process.env.KTO_RUNNER_ORGANIZATIONS = "octo-org";
    process.env.KTO_RUNNER_GROUPS = "1,3";
    try {
      github.state.installations.set("org:octo-org", 43);
      github.state.runnerGroups.set("octo-org", [
        { id: 1, name: "Default", visibility: "all", allows_public_repositories: false },
        { id: 3, name: "kernel-lab", visibility: "all", allows_public_repositories: false },
      ]);
      const reads = () => github.requests.filter((r) => r.operationId === "actions/list-self-hosted-runner-groups-for-org").length;
      const before = reads();
      const grant = async (name: string, group: number) =>
        (await post("registration-token", { organization: "octo-org", name, labels: [`kto-runner-${name}`], runner_group_id: group })).body;
      expect(await grant("lab-1", 1)).toMatchObject({ url: "https://github.com/octo-org", runnerGroup: "Default" });
      expect(await grant("lab-2", 3)).toMatchObject({ runnerGroup: "kernel-lab" });
      expect(await grant("lab-3", 3)).toMatchObject({ runnerGroup: "kernel-lab" });
      expect(reads() - before).toBe(1);
      expect(github.requests.filter((r) => r.operationId === "actions/create-registration-token-for-org")).toHaveLength(1);
    } finally {
      if (organizations === undefined) delete process.env.KTO_RUNNER_ORGANIZATIONS;
      else process.env.KTO_RUNNER_ORGANIZATIONS = organizations;
      if (groups === undefined) delete process.env.KTO_RUNNER_GROUPS;
      else process.env.KTO_RUNNER_GROUPS = groups;
    }
  });

  it("refuses a token for a runner carrying another's kto-runner label, and a report of one, as it refuses to register it just in time", async () => {
    const before = tokenRequests();
    const thief = { repository: REPO, name: "thief-1", labels: ["kto-runner-thief-1", "kto-runner-victim-1"] };
    expect((await post("registration-token", thief)).status).toBe(400);
    expect((await post("registered", { ...thief, runner_id: 77 })).status).toBe(400);
    expect(tokenRequests()).toBe(before);
  });

  it("gives no job to a runner registered with the token under another's kto-runner label, and counts it in /kto/health", async () => {
    const granted = (await post("registration-token", { repository: REPO, name: "host-x-1", labels: ["kto-runner-host-x-1"] })).body as unknown as TokenGrant;
    // A job that got hold of the token registers a runner of its own with a label of its choosing.
    const thief = configureRunner(github.state, {
      scope: REPO,
      token: granted.token,
      name: "thief-1",
      labels: ["x86_64", "kto-runner-host-0-3"],
      ephemeral: false,
    });
    thief.status = "online";
    // GitHub names it in a workflow_job event; kto does not know it, and lists the repository.
    expect(running.app.pool.unknownRunner(REPO, thief.id)).toBe(true);
    await running.app.service.syncRunners();
    expect((await running.app.store.runners.list()).map((r) => r.id)).not.toContain(`github:${REPO}:${thief.id}`);
    const health = (await (await fetch(`${running.app.url}/kto/health`)).json()) as { runnersRefused: number };
    expect(health.runnersRefused).toBe(1);
  });
});
