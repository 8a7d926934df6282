import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import type { OctokitFor } from "../../../src/app/github/github-api.js";
import { GitHubRunnerPool } from "../../../src/app/github/github-runner-pool.js";
import type { Target } from "../../../src/app/webhooks/plan-target.js";
import { planSubmitter, type PlanSubmitter } from "../../../src/app/webhooks/plan-submitter.js";
import { pullRequestGate } from "../../../src/app/trust/trust-gate.js";
import { allowanceOf, policyAt, pullRequestFacts } from "../../../src/app/trust/trust.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { installationGrants, installationOctokits } from "../../helpers/installation-octokits.js";
import { RecordingDispatcher } from "../../helpers/orchestrator.js";
import { freshStore } from "../../helpers/stores.js";

/**
 * The plan submitter on its own, against the GitHub API double: the config read at the
 * commit, the suites the base's trigger selects and the privileges and job caps the base
 * allows, the trust gate's decision kept with the plan, a new repository's runners brought
 * in, and an invalid config answered on the commit. The gate's decisions are the gate's
 * own, made from the base branch's policy as the App's handlers make them.
 */

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const suite = (name: string, labels: string, extra = "") =>
  `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n    hardware: { labels: [${labels}] }\n${extra}`;
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
    const grants = installationGrants(github, () => clock.now());
    const pool = new GitHubRunnerPool(store, octokitFor, grants, () => clock.now());
    service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [pool], clock, options: { owner: "test" } });
    plans = planSubmitter({ service, pool, now: () => clock.now() });
  });

  afterEach(async () => {
    await service.sendDue();
    await dispose();
    await github.close();
  });

  /**
   * Pull request #1's head at SHA with `config`, from the repository itself or from a fork,
   * into master with `base` as its config: the trust gate's decision and the base's
   * allowance for a pull request, as the pull request handlers ask for them.
   */
  async function pullRequest(config: string | null, from: "member" | "fork", base: string | null = null) {
    if (config !== null) github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, config);
    if (base !== null) github.state.files.set(`${REPO}@master:.github/kto.yml`, base);
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
    const policy = await policyAt(octokit, "Codertocat", "Hello-World", "master");
    return { target, gate: pullRequestGate(facts, policy), allowed: allowanceOf(policy, "pull_request") };
  }

  const configRuns = () => [...github.state.checkRuns.values()].filter((run) => run.name === "kto / config") as { output: { summary: string } }[];

  it("plans the suites the base's trigger selects from the config at the commit, and brings a repository seen first's runners in", async () => {
    const base = `${CONFIG}triggers:\n  pull_request: [unit, board]\n`;
    const { target, gate, allowed } = await pullRequest(CONFIG, "member", base);
    expect(allowed.suites).toEqual(["unit", "board"]);
    await plans.submit(target, allowed, gate, { priority: 4 });
    const [planId] = await store.plans.planIds();
    expect(await store.plans.plan(planId!)).toMatchObject({
      repo: REPO,
      headSha: SHA,
      defaultRef: "master",
      groupKey: `pr:${REPO}#1`,
      installationId: 1,
      trusted: true,
      gateReason: gate.reason,
    });
    const jobs = await store.jobs.list({ planId: planId! });
    expect(jobs.map((j) => [j.id, j.state, j.labels, j.priority])).toEqual([
      [`${planId}/unit`, "queued", ["x86_64"], 4],
      [`${planId}/board`, "queued", ["arm64"], 4],
    ]);
    expect((await store.runners.list()).map((e) => e.id)).toEqual([`github:${REPO}:7`]);
    expect(github.rejected).toEqual([]);
  });

  it("holds a plan the gate stopped, saying why", async () => {
    const { target, gate, allowed } = await pullRequest(CONFIG, "fork");
    expect(gate.trusted).toBe(false);
    await plans.submit(target, allowed, gate);
    const jobs = await store.jobs.list();
    expect(jobs.map((j) => j.state)).toEqual(["awaiting_approval", "awaiting_approval", "awaiting_approval"]);
    expect(jobs[0]!.reason).toBe("Waiting for approval: it comes from the fork stranger/Hello-World.");
    const [planId] = await store.plans.planIds();
    expect(await store.plans.plan(planId!)).toMatchObject({ trusted: false, gateReason: gate.reason });
    expect(github.rejected).toEqual([]);
  });

  it("holds a plan the gate stopped to the base branch's job caps, whatever its own config says; a trusted one has its own", async () => {
    const base = `${CONFIG}limits:\n  jobs_per_plan: 2\n`;
    const head = `${CONFIG}limits:\n  jobs_per_plan: 3\n`;
    const held = await pullRequest(head, "fork", base);
    await plans.submit(held.target, held.allowed, held.gate);
    expect(await store.plans.planIds()).toEqual([]);
    const [refusal] = configRuns();
    expect(refusal!.output.summary).toContain(
      "suites[2]: brings the plan to 3 jobs; at most 2 per plan (limits.jobs_per_plan on the base branch master, which bounds a plan that is not trusted)",
    );

    const trusted = await pullRequest(head, "member", base);
    await plans.submit(trusted.target, trusted.allowed, trusted.gate);
    expect(await store.jobs.list()).toHaveLength(3);
    expect(configRuns()).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("plans no job of a suite asking for privileges the base branch does not allow, and says so on the commit", async () => {
    const head = `version: 1\nsuites:\n${suite("unit", "x86_64")}${suite("net", "x86_64", "    network: true\n")}`;
    const base = `${CONFIG}privileges: {}\n`;
    const { target, gate, allowed } = await pullRequest(head, "member", base);
    await plans.submit(target, allowed, gate);
    expect((await store.jobs.list()).map((j) => j.name)).toEqual(["unit"]);
    const [refusal] = configRuns();
    expect(refusal!.output.summary).toContain("suites[1].network: a network is not allowed by privileges in the base branch's .github/kto.yml");
    expect(github.rejected).toEqual([]);
  });

  it("answers an invalid config with one failed kto / config check run pointing at each problem's line, and plans nothing", async () => {
    const { target, gate, allowed } = await pullRequest(`${CONFIG}    timeout: soon\n`, "member");
    await plans.submit(target, allowed, gate);
    expect(await store.plans.planIds()).toEqual([]);
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
    const { target, gate, allowed } = await pullRequest(null, "member");
    await plans.submit(target, allowed, gate);
    await plans.submitSpecs(target, [], gate);
    expect(await store.plans.planIds()).toEqual([]);
    expect(github.state.checkRuns.size).toBe(0);
    expect(github.rejected).toEqual([]);
  });

  it("for one job wanted at another commit, says why it plans nothing there, and leaves the telling to the caller", async () => {
    const wanting = async (config: string | null) => {
      github.state.files.delete(`${REPO}@${SHA}:.github/kto.yml`);
      const { target, gate, allowed } = await pullRequest(config, "member", `${CONFIG}privileges: {}\n`);
      return plans.submit(target, allowed, gate, { suites: ["unit"], priority: 1, wants: "unit" });
    };
    expect(await wanting(null)).toEqual({ kind: "none", why: "it has no .github/kto.yml" });
    expect(await wanting(`version: 1\nsuites:\n${suite("board", "arm64")}`)).toEqual({ kind: "none", why: "its .github/kto.yml plans no job of suite unit" });
    expect(await wanting(`${CONFIG}    timeout: soon\n    retries: lots\n`)).toEqual({
      kind: "none",
      why: "its .github/kto.yml is invalid: suites[2].timeout: expected a duration like 20m (and 1 more problem)",
    });
    const matrix = `version: 1\nsuites:\n${suite("unit", "x86_64", "    matrix: { arch: [x86] }\n")}`;
    expect(await wanting(matrix)).toEqual({ kind: "none", why: "its .github/kto.yml plans no job unit, only unit[arch=x86]" });
    expect(await wanting(`version: 1\nsuites:\n${suite("unit", "x86_64", "    network: true\n")}`)).toEqual({
      kind: "none",
      why: "its .github/kto.yml's job unit asks for more privileges than the default branch allows",
    });
    expect(await store.plans.planIds()).toEqual([]);
    expect(configRuns()).toEqual([]);

    const planned = await wanting(CONFIG);
    expect(planned).toMatchObject({ kind: "planned", specs: [{ suite: "unit", priority: 1 }] });
    expect((await store.jobs.list()).map((j) => j.name)).toEqual(["unit"]);
    expect(github.rejected).toEqual([]);
  });

  it("with onlyWanted, plans the wanted job of a matrix alone, and the build it boots", async () => {
    const config = `version: 1
builds:
  - name: k
    arch: x86_64
    config: [tinyconfig]
suites:
  - name: boot
    runner: qemu
    build: k
    command: "true"
    matrix: { mem: ["256M", "512M"] }
${suite("unit", "x86_64")}`;
    const { target, gate, allowed } = await pullRequest(config, "member");
    const planned = await plans.submit(target, allowed, gate, { suites: ["boot"], wants: "boot[mem=512M]", onlyWanted: true });
    expect(planned).toMatchObject({ kind: "planned" });
    expect(planned.kind === "planned" && planned.specs.map((spec) => spec.id)).toEqual(["k", "boot (mem=512M)"]);
    expect((await store.jobs.list()).map((j) => j.name)).toEqual(["k", "boot (mem=512M)"]);
    expect(github.rejected).toEqual([]);
  });
});
