import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import type { OctokitFor } from "../../../src/app/github-api.js";
import { GitHubRunnerPool } from "../../../src/app/github-runner-pool.js";
import type { Target } from "../../../src/app/plan-target.js";
import { planSubmitter, type PlanSubmitter } from "../../../src/app/plan-submitter.js";
import { pullRequestGate } from "../../../src/app/trust-gate.js";
import { policyAt, pullRequestFacts } from "../../../src/app/trust.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { installationOctokits } from "../../helpers/installation-octokits.js";
import { RecordingDispatcher } from "../../helpers/orchestrator.js";
import { freshStore } from "../../helpers/stores.js";

/**
 * The plan submitter on its own, against the GitHub API double: the config read at the
 * commit, the suites the base's trigger selects, the gate's decision kept with the plan, a
 * new repository's runners brought in, and an invalid config answered on the commit.
 */

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const suite = (name: string, labels: string) =>
  `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n    hardware: { labels: [${labels}] }\n`;
const CONFIG = `version: 1\nsuites:\n${suite("unit", "x86_64")}${suite("board", "arm64")}${suite("stress", "x86_64")}`;

describe("the plan submitter", () => {
  let github: GitHubApiDouble;
  let store: Store;
  let dispose: () => Promise<void>;
  let service: OrchestratorService;
  let octokitFor: OctokitFor;
  let plans: PlanSubmitter;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    github.state.runners.set(REPO, [
      {
        id: 7,
        name: "rack-1",
        os: "linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", "x86_64", "kto-runner-rack-1"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
      },
    ]);
    ({ store, dispose } = await freshStore("sqlite"));
    const clock = new ManualClock(1_700_000_000_000);
    octokitFor = installationOctokits(github);
    const pool = new GitHubRunnerPool(store, octokitFor, () => clock.now());
    service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [pool], clock, options: { owner: "test" } });
    plans = planSubmitter({ service, pool, now: () => clock.now() });
  });

  afterEach(async () => {
    await service.outbox.deliver();
    await dispose();
    await github.close();
  });

  /** Pull request #1's head at SHA with `config`, from the repository itself or from a fork. */
  async function pullRequest(config: string | null, from: "member" | "fork") {
    if (config !== null) github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, config);
    const octokit = await octokitFor(1);
    const target: Target = {
      octokit,
      installationId: 1,
      repo: REPO,
      repoPrivate: false,
      owner: "Codertocat",
      name: "Hello-World",
      headSha: SHA,
      defaultRef: "master",
      groupKey: `pr:${REPO}#1`,
      deliveryId: "delivery-1",
    };
    const facts = pullRequestFacts(
      { author_association: from === "member" ? "MEMBER" : "NONE", head: { repo: { full_name: from === "member" ? REPO : "stranger/Hello-World" } } },
      REPO,
    );
    return { target, gate: pullRequestGate(facts, await policyAt(octokit, "Codertocat", "Hello-World", "master")) };
  }

  it("plans the suites the trigger selects from the config at the commit, and brings a repository seen first's runners in", async () => {
    const { target, gate } = await pullRequest(CONFIG, "member");
    await plans.submit(target, ["unit", "board"], gate, { priority: 4 });
    const [planId] = await store.planIds();
    expect(await store.plan(planId!)).toMatchObject({
      repo: REPO,
      headSha: SHA,
      defaultRef: "master",
      groupKey: `pr:${REPO}#1`,
      installationId: 1,
      trusted: true,
      gateReason: gate.reason,
    });
    const jobs = await store.jobs({ planId: planId! });
    expect(jobs.map((j) => [j.id, j.state, j.labels, j.priority])).toEqual([
      [`${planId}/unit`, "queued", ["x86_64"], 4],
      [`${planId}/board`, "queued", ["arm64"], 4],
    ]);
    expect((await store.environments()).map((e) => e.id)).toEqual([`github:${REPO}:7`]);
    expect(github.rejected).toEqual([]);
  });

  it("holds a plan the gate stopped, saying why", async () => {
    const { target, gate } = await pullRequest(CONFIG, "fork");
    await plans.submit(target, "all", gate);
    const jobs = await store.jobs();
    expect(jobs.map((j) => j.state)).toEqual(["awaiting_approval", "awaiting_approval", "awaiting_approval"]);
    expect(jobs[0]!.reason).toBe("Waiting for approval: it comes from the fork stranger/Hello-World.");
    expect(github.rejected).toEqual([]);
  });

  it("answers an invalid config with one failed kto / config check run pointing at each problem's line, and plans nothing", async () => {
    const { target, gate } = await pullRequest(`${CONFIG}    timeout: soon\n`, "member");
    await plans.submit(target, "all", gate);
    expect(await store.planIds()).toEqual([]);
    expect([...github.state.checkRuns.values()]).toEqual([
      expect.objectContaining({
        name: "kto / config",
        head_sha: SHA,
        status: "completed",
        conclusion: "failure",
        output: expect.objectContaining({
          title: ".github/kto.yml has 1 problem",
          annotations: [
            {
              path: ".github/kto.yml",
              start_line: 18,
              end_line: 18,
              annotation_level: "failure",
              title: "suites[2].timeout",
              message: "expected a duration like 20m",
            },
          ],
        }),
      }),
    ]);
    expect(github.rejected).toEqual([]);
  });

  it("plans nothing, and says nothing, for a commit without .github/kto.yml or with no job", async () => {
    const { target, gate } = await pullRequest(null, "member");
    await plans.submit(target, "all", gate);
    await plans.submitSpecs(target, [], gate);
    expect(await store.planIds()).toEqual([]);
    expect(github.state.checkRuns.size).toBe(0);
    expect(github.rejected).toEqual([]);
  });
});
