import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { sign } from "@octokit/webhooks-methods";
import { startApp, WEBHOOKS_PATH, type RunningApp } from "../../src/app/server.js";
import { needsApproval } from "../../src/app/trust.js";
import { doubleAppSettings } from "../helpers/app-settings.js";
import { startGitHubApiDouble, type GitHubApiDouble, type RepositoryRole } from "../helpers/github-api-double.js";
import { freshStore } from "../helpers/stores.js";
import { until, untilSettled } from "../helpers/until.js";

/**
 * The attacks of a fork's author on the trust gate, played against the running App: every
 * way for an unapproved commit of a fork to reach the hardware must leave it waiting.
 */

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];
function example(event: string, action: string, index = 1): Record<string, unknown> {
  const found = examples.find((e) => e.name === event)!.examples.filter((e) => (e.action ?? "") === action);
  return structuredClone(found[Math.min(index, found.length - 1)]!);
}

const REPO = "Codertocat/Hello-World";
const FORK = "stranger/Hello-World";
const SECRET = "webhook-secret";
const NUMBER = 2;
const FIRST = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const SECOND = "2222222222222222222222222222222222222222";
const UNIT = `version: 1
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
`;
const ROLES: [string, RepositoryRole][] = [
  ["maintainer", "maintain"],
  ["writer", "write"],
  ["triager", "triage"],
  ["org-member", "read"],
  ["reader", "read"],
];

interface PullRequestPayload {
  action: string;
  number: number;
  pull_request: {
    number: number;
    author_association: string;
    labels: { name: string }[];
    head: { sha: string; repo: { full_name: string } };
    base: { ref: string };
  };
  label?: Record<string, unknown>;
  sender: { login: string };
}

type CheckRunView = {
  id: number;
  name: string;
  external_id?: string;
  head_sha: string;
  status: string;
  conclusion?: string;
  output: { title: string; summary: string };
};

/** GitHub stamps times in whole seconds. */
function githubTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** A GitHub timestamp later than everything that happened before the call. */
async function stampAfterNow(): Promise<string> {
  const next = (Math.floor(Date.now() / 1000) + 1) * 1000;
  await new Promise((resolve) => setTimeout(resolve, next - Date.now() + 5));
  return githubTime(Date.now());
}

describe("the trust gate against a fork's author", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let dispose: () => Promise<void>;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    github.state.files.set(`${REPO}@master:.github/kto.yml`, UNIT);
    github.state.files.set(`${REPO}@${FIRST}:.github/kto.yml`, UNIT);
    github.state.files.set(`${REPO}@${SECOND}:.github/kto.yml`, UNIT);
    github.state.permissions.set(REPO, new Map(ROLES));
    github.state.runners.set(REPO, [
      {
        id: 7,
        name: "rack-1",
        os: "linux",
        status: "online",
        busy: false,
        labels: ["self-hosted", "linux", "x86_64", "kto-runner-rack-1"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
      },
    ]);
    const fresh = await freshStore("sqlite");
    dispose = fresh.dispose;
    app = await startApp(doubleAppSettings(github.url, { WEBHOOK_SECRET: SECRET }), {
      store: fresh.store,
      logLevel: "fatal",
      throttle: false,
      runLookupDelayMs: 50,
      orchestrator: { pollMs: 100, outboxPollMs: 100, lockTtlMs: 2_000 },
    });
  });

  afterEach(async () => {
    await app.close();
    await dispose();
    await github.close();
  });

  async function deliver(event: string, payload: unknown): Promise<void> {
    const body = JSON.stringify(payload);
    const response = await fetch(`${app.url}${WEBHOOKS_PATH}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": await sign(SECRET, body),
      },
      body,
    });
    expect(response.status).toBe(200);
  }

  /** A pull request event of the fork's pull request at `sha`, sent as GitHub sends it. */
  function pullRequest(action: string, sha: string, labels: string[] = [], sender = "stranger"): PullRequestPayload {
    const payload = example("pull_request", "opened") as unknown as PullRequestPayload;
    payload.action = action;
    payload.number = NUMBER;
    payload.pull_request.number = NUMBER;
    payload.pull_request.author_association = "NONE";
    payload.pull_request.head.sha = sha;
    payload.pull_request.head.repo.full_name = FORK;
    payload.pull_request.labels = labels.map((name, i) => ({
      id: i + 1,
      node_id: `L_${i}`,
      url: `https://api.github.com/repos/${REPO}/labels/${name}`,
      name,
      color: "00ff00",
      default: false,
      description: null,
    }));
    payload.sender.login = sender;
    github.state.pulls.set(`${REPO}#${NUMBER}`, {
      number: NUMBER,
      head: { sha, repo: { full_name: FORK } },
      base: { ref: "master" },
      author_association: "NONE",
      labels: payload.pull_request.labels,
    });
    return payload;
  }

  /** `sender` adds `label` while the head is `sha`; the payload lists the labels the pull request has then. */
  function labeled(sha: string, label: string, sender: string, others: string[] = []): PullRequestPayload {
    const payload = pullRequest("labeled", sha, [...others, label], sender);
    payload.label = payload.pull_request.labels.at(-1);
    return payload;
  }

  function comment(body: string, login: string, association: string, createdAt: string): Record<string, unknown> {
    const payload = example("issue_comment", "created", 3) as {
      comment: Record<string, unknown> & { user: { login: string } };
      issue: Record<string, unknown>;
      sender: { login: string };
    };
    payload.comment.body = body;
    payload.comment.user.login = login;
    payload.comment.author_association = association;
    payload.comment.created_at = createdAt;
    payload.comment.updated_at = createdAt;
    payload.sender.login = login;
    payload.issue.number = NUMBER;
    payload.issue.pull_request = { url: `https://api.github.com/repos/${REPO}/pulls/${NUMBER}` };
    return payload;
  }

  /** "Re-run all checks" on `sha`, pressed by `sender`: for a fork's commit GitHub names no pull request and no branch. */
  function suiteRerequested(sha: string, sender: string): Record<string, unknown> {
    const payload = example("check_suite", "rerequested", 0) as { check_suite: Record<string, unknown>; sender: { login: string } };
    payload.check_suite.head_sha = sha;
    payload.check_suite.head_branch = null;
    payload.check_suite.pull_requests = [];
    payload.sender.login = sender;
    return payload;
  }

  /** `sender` presses a job's check run's "Re-run" (rerequested) or its "Re-run failed" button (requested_action). */
  function checkRunPressed(action: "rerequested" | "requested_action", run: CheckRunView, sender: string): Record<string, unknown> {
    const payload = example("check_run", action, 0) as {
      check_run: Record<string, unknown> & { check_suite: Record<string, unknown> };
      requested_action?: unknown;
      repository: unknown;
      installation: unknown;
      organization?: unknown;
      sender: { login: string };
    };
    const pullRequestEvent = example("pull_request", "opened") as { repository: unknown; installation: unknown };
    payload.check_run = {
      ...payload.check_run,
      id: run.id,
      external_id: run.external_id,
      name: run.name,
      head_sha: run.head_sha,
      check_suite: { ...payload.check_run.check_suite, head_sha: run.head_sha, pull_requests: [] },
    };
    if (action === "requested_action") payload.requested_action = { identifier: "rerun" };
    payload.repository = pullRequestEvent.repository;
    payload.installation = pullRequestEvent.installation;
    delete payload.organization;
    payload.sender.login = sender;
    return payload;
  }

  const checkRuns = () => [...github.state.checkRuns.values()] as unknown as CheckRunView[];
  const dispatchedShas = () => github.state.dispatches.map((d) => d.inputs.sha);

  /** The commit's approval check run (one for the plan's jobs), once it waits for approval. */
  async function held(sha: string): Promise<CheckRunView> {
    return until(
      async () => checkRuns().find((c) => c.name === "kto / approval" && c.head_sha === sha && c.conclusion === "action_required"),
      `${sha.slice(0, 7)} held for approval`,
      15_000,
    );
  }

  it("reads the trust rules from the base branch: a fork that names `bug` its ok-to-test label and trusts everyone is held when reopened with that label", async () => {
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `${UNIT}trust:\n  ok_to_test_label: bug\n  trusted_associations: [OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, NONE]\n`,
    );
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    // A maintainer triages it as a bug, as maintainers do every day; the author closes and reopens.
    await deliver("pull_request", labeled(FIRST, "bug", "maintainer"));
    await deliver("pull_request", pullRequest("closed", FIRST, ["bug"]));
    await deliver("pull_request", pullRequest("reopened", FIRST, ["bug"]));
    await until(async () => (await app.store.plans.planIds()).length === 2, "the reopened pull request planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobsRepo.countsByState()).awaiting_approval).toBe(1);
    expect(github.rejected).toEqual([]);
  });

  it("reads which suites a pull request runs from the base branch: a head that widens its triggers runs the base's suites only", async () => {
    const suite = (name: string) =>
      `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n    hardware: { labels: [x86_64] }\n`;
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `version: 1\nsuites:\n${suite("unit")}${suite("stress")}triggers:\n  pull_request: [unit]\n`);
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `version: 1\nsuites:\n${suite("unit")}${suite("stress")}${suite("burn-in")}triggers:\n  pull_request: all\n`,
    );
    const trusted = pullRequest("opened", FIRST);
    trusted.pull_request.head.repo.full_name = REPO;
    trusted.pull_request.author_association = "MEMBER";
    await deliver("pull_request", trusted);
    await until(async () => github.state.dispatches.length > 0, "the trusted pull request dispatched");
    await untilSettled({ app, github });
    expect(checkRuns().map((c) => c.name)).toEqual(["kto / unit"]);
    expect(github.rejected).toEqual([]);
  });

  it("reads which privileges a pull request's suites may have from the base branch: a suite asking for more is a config error at its field, and only the others run", async () => {
    const suite = (name: string, asks = "") =>
      `  - name: ${name}\n    runner: docker\n    image: kto/busybox:1\n    command: "true"\n    hardware: { labels: [x86_64] }\n${asks}`;
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `version: 1\nsuites:\n${suite("unit")}privileges:\n  capabilities: [contained]\n`);
    // The head widens its own privileges too, which is the base's word and so counts for nothing.
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `version: 1\nsuites:\n${suite("unit")}${suite("escape", "    user: root\n    capabilities: [DAC_READ_SEARCH]\n")}privileges:\n  user: root\n  capabilities: [DAC_READ_SEARCH]\n`,
    );
    const trusted = pullRequest("opened", FIRST);
    trusted.pull_request.head.repo.full_name = REPO;
    trusted.pull_request.author_association = "MEMBER";
    await deliver("pull_request", trusted);
    await until(async () => github.state.dispatches.length > 0, "the trusted pull request dispatched");
    await untilSettled({ app, github });
    const config = checkRuns().find((c) => c.name === "kto / config");
    expect(config).toMatchObject({ head_sha: FIRST, status: "completed", conclusion: "failure" });
    expect(config!.output.summary.split("\n")).toEqual([
      "- `.github/kto.yml:13:11` suites[1].user: root is not allowed by privileges in the base branch's .github/kto.yml, which has user: non-root",
      expect.stringMatching(
        /^- `\.github\/kto\.yml:14:20` suites\[1\]\.capabilities\[0\]: DAC_READ_SEARCH is not granted by privileges in the base branch's \.github\/kto\.yml: open_by_handle_at /,
      ),
    ]);
    expect((await app.store.jobsRepo.jobs()).map((job) => job.name)).toEqual(["unit"]);
    expect(github.state.dispatches).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("trusts no author while the base branch's kto.yml is invalid: a member's own branch waits too", async () => {
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}trust:\n  trusted_associations: everyone\n`);
    const member = pullRequest("opened", FIRST);
    member.pull_request.head.repo.full_name = REPO;
    member.pull_request.author_association = "MEMBER";
    await deliver("pull_request", member);
    const run = await held(FIRST);
    expect(run.output.summary).toContain(".github/kto.yml on master is invalid, so kto cannot tell whom it trusts");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect(github.rejected).toEqual([]);
  });

  it("takes a label as the approval of the commit it is added to: a later commit waits, even after a close and reopen with the label still on", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("pull_request", labeled(FIRST, "kto/ok-to-test", "maintainer"));
    await until(async () => github.state.dispatches.length === 1, "the labelled commit dispatched");
    await deliver("pull_request", pullRequest("synchronize", SECOND, ["kto/ok-to-test"]));
    await held(SECOND);
    await deliver("pull_request", pullRequest("closed", SECOND, ["kto/ok-to-test"]));
    await deliver("pull_request", pullRequest("reopened", SECOND, ["kto/ok-to-test"]));
    await until(async () => (await app.store.plans.planIds()).length === 3, "the reopened pull request planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([FIRST]);
    expect((await app.store.jobsRepo.countsByState()).awaiting_approval).toBe(1);
    const [reopened] = await app.store.jobsRepo.jobs({ states: ["awaiting_approval"] });
    expect(reopened?.reason).toContain("kto/ok-to-test approves only the commit it is added to");
    expect(github.rejected).toEqual([]);
  });

  it("approves on exactly the configured label, added by someone who can write to the repository", async () => {
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}trust:\n  ok_to_test_label: ci/approved\n`);
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("pull_request", labeled(FIRST, "needs-ok-to-test", "maintainer"));
    await deliver("pull_request", labeled(FIRST, "kto/ok-to-test", "maintainer", ["needs-ok-to-test"]));
    // Triage can label but not write: its label is not an approval.
    await deliver("pull_request", labeled(FIRST, "ci/approved", "triager", ["needs-ok-to-test", "kto/ok-to-test"]));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobsRepo.countsByState()).awaiting_approval).toBe(1);
    await deliver("pull_request", labeled(FIRST, "ci/approved", "writer", ["needs-ok-to-test", "kto/ok-to-test"]));
    await until(async () => github.state.dispatches.length === 1, "the commit approved by a writer's label dispatched");
    expect(dispatchedShas()).toEqual([FIRST]);
    const asked = github.requests.filter((r) => r.operationId === "repos/get-collaborator-permission-level").map((r) => r.params.username);
    expect(asked).toEqual(["triager", "writer"]);
    expect(github.rejected).toEqual([]);
  });

  it("takes /kto commands from those the API says can write, whatever the comment's author_association", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    const written = await stampAfterNow();
    // MEMBER is any member of the organisation; COLLABORATOR includes read-only collaborators.
    await deliver("issue_comment", comment("/kto ok-to-test", "org-member", "MEMBER", written));
    await deliver("issue_comment", comment("/kto ok-to-test", "reader", "COLLABORATOR", written));
    await deliver("issue_comment", comment("/kto retest", "reader", "COLLABORATOR", written));
    await deliver("issue_comment", comment("/kto retest", "triager", "MEMBER", written));
    await deliver("issue_comment", comment("/kto cancel", "org-member", "MEMBER", written));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect(await app.store.plans.planIds()).toHaveLength(1);
    expect((await app.store.jobsRepo.countsByState()).awaiting_approval).toBe(1);
    // The maintain role reads as write in the API's legacy permission.
    await deliver("issue_comment", comment("/kto ok-to-test", "maintainer", "CONTRIBUTOR", written));
    await until(async () => github.state.dispatches.length === 1, "the commit approved by a maintainer dispatched");
    expect(dispatchedShas()).toEqual([FIRST]);
    expect(github.rejected).toEqual([]);
  });

  it("binds /kto ok-to-test to the head the maintainer saw: a commit pushed after the comment waits, and says why", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    // The maintainer reviews the first commit and writes the comment; the author pushes
    // again before kto reads it.
    const written = await stampAfterNow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await deliver("pull_request", pullRequest("synchronize", SECOND));
    await held(SECOND);
    await deliver("issue_comment", comment("/kto ok-to-test", "maintainer", "MEMBER", written));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobsRepo.countsByState()).awaiting_approval).toBe(1);
    const notice = checkRuns().find((c) => c.name === "kto / approval" && c.conclusion === "neutral");
    expect(notice).toMatchObject({ head_sha: SECOND, status: "completed", conclusion: "neutral" });
    expect(notice?.output.summary).toContain(`${SECOND} was pushed after`);

    // Reviewed and approved again, after the push: it runs.
    await deliver("issue_comment", comment("/kto ok-to-test", "maintainer", "MEMBER", await stampAfterNow()));
    await until(async () => github.state.dispatches.length === 1, "the second commit approved");
    expect(dispatchedShas()).toEqual([SECOND]);
    expect(github.rejected).toEqual([]);
  });

  it("binds /kto retest to the head the maintainer saw: a commit pushed after the comment is not run", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    const written = await stampAfterNow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await deliver("pull_request", pullRequest("synchronize", SECOND));
    await held(SECOND);
    await deliver("issue_comment", comment("/kto retest", "writer", "COLLABORATOR", written));
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect(checkRuns().find((c) => c.name === "kto / approval" && c.conclusion === "neutral")).toMatchObject({ head_sha: SECOND, conclusion: "neutral" });

    await deliver("issue_comment", comment("/kto retest", "writer", "COLLABORATOR", await stampAfterNow()));
    await until(async () => github.state.dispatches.length === 1, "the second commit retested");
    expect(dispatchedShas()).toEqual([SECOND]);
    expect(github.rejected).toEqual([]);
  });

  it("gates Re-run all checks on a fork's held commit: pressed by someone who cannot write it waits, by a writer it runs", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("check_suite", suiteRerequested(FIRST, "stranger"));
    await until(async () => (await app.store.plans.planIds()).length === 2, "the re-run planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    expect((await app.store.jobsRepo.countsByState()).awaiting_approval).toBe(1);
    // Found through kto's plan of the commit: the re-run is the pull request's, and waits as its head does.
    const [waiting] = await app.store.jobsRepo.jobs({ states: ["awaiting_approval"] });
    expect(waiting?.reason).toBe(`Waiting for approval: it comes from the fork ${FORK}; @stranger, who asked for the re-run, cannot write to ${REPO}.`);
    expect((await app.store.plans.plan(waiting!.planId))?.groupKey).toBe(`pr:${REPO}#${NUMBER}`);

    await deliver("check_suite", suiteRerequested(FIRST, "writer"));
    await until(async () => github.state.dispatches.length === 1, "the writer's re-run dispatched");
    expect(dispatchedShas()).toEqual([FIRST]);
    const asked = github.requests.filter((r) => r.operationId === "repos/get-collaborator-permission-level").map((r) => r.params.username);
    expect(asked).toEqual(["stranger", "writer"]);
    expect(github.rejected).toEqual([]);
  });

  it("gates Re-run all checks on a commit kto knows nothing of: only a writer's press runs it", async () => {
    await deliver("check_suite", suiteRerequested(SECOND, "reader"));
    await until(async () => (await app.store.plans.planIds()).length === 1, "the re-run planned");
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([]);
    const [waiting] = await app.store.jobsRepo.jobs({ states: ["awaiting_approval"] });
    expect(waiting?.reason).toContain(`kto knows of no pull request or plan of ${SECOND.slice(0, 7)}`);
    await deliver("check_suite", suiteRerequested(SECOND, "maintainer"));
    await until(async () => github.state.dispatches.length === 1, "the maintainer's re-run dispatched");
    expect(dispatchedShas()).toEqual([SECOND]);
    expect(github.rejected).toEqual([]);
  });

  it("gates a job's Re-run of a fork's approved plan again: pressed by someone who cannot write, the job waits for approval", async () => {
    await deliver("pull_request", pullRequest("opened", FIRST));
    await held(FIRST);
    await deliver("pull_request", labeled(FIRST, "kto/ok-to-test", "maintainer"));
    await until(async () => github.state.dispatches.length === 1, "the labelled commit dispatched");
    await deliver("issue_comment", comment("/kto cancel", "maintainer", "MEMBER", await stampAfterNow()));
    const run = await until(
      async () => checkRuns().find((c) => c.name === "kto / unit" && c.conclusion === "cancelled"),
      "the job's check run completed as cancelled",
    );
    let planned = (await app.store.plans.planIds()).length;
    for (const [action, sender] of [
      ["rerequested", "stranger"],
      ["requested_action", "reader"],
    ] as const) {
      await deliver("check_run", checkRunPressed(action, run, sender));
      planned += 1;
      await until(async () => (await app.store.plans.planIds()).length === planned, `the re-run ${action} by ${sender} planned`);
    }
    await untilSettled({ app, github });
    expect(dispatchedShas()).toEqual([FIRST]);
    const [waiting] = await app.store.jobsRepo.jobs({ states: ["awaiting_approval"] });
    expect(waiting?.reason).toBe(`Waiting for approval: it comes from the fork ${FORK}; @reader, who asked for the re-run, cannot write to ${REPO}.`);
    await until(
      async () =>
        checkRuns().find((c) => c.name === "kto / approval" && c.conclusion === "action_required" && c.output.summary.includes("the same Re-run button")),
      "the held re-run's approval check run",
    );

    await deliver("check_run", checkRunPressed("rerequested", run, "writer"));
    await until(async () => github.state.dispatches.length === 2, "the writer's re-run dispatched");
    expect(dispatchedShas()).toEqual([FIRST, FIRST]);
    expect(github.rejected).toEqual([]);
  });

  it("holds a fork's plan to the base branch's job caps: a head config that raises limits.jobs_per_plan does not raise them", async () => {
    const threeJobs = `version: 1
suites:
  - name: unit
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
    matrix: { n: [1, 2, 3] }
`;
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}limits:\n  jobs_per_plan: 2\n`);
    github.state.files.set(`${REPO}@${FIRST}:.github/kto.yml`, `${threeJobs}limits:\n  jobs_per_plan: 4096\n`);
    await deliver("pull_request", pullRequest("opened", FIRST));
    const failed = await until(async () => checkRuns().find((c) => c.name === "kto / config"), "the config check run");
    expect(failed).toMatchObject({ head_sha: FIRST, conclusion: "failure" });
    expect(failed.output.summary).toContain("brings the plan to 3 jobs; at most 2 per plan (limits.jobs_per_plan on the base branch master");
    expect(await app.store.plans.planIds()).toEqual([]);

    // A trusted head's config sets its own caps.
    github.state.files.set(`${REPO}@${SECOND}:.github/kto.yml`, `${threeJobs}limits:\n  jobs_per_plan: 4096\n`);
    const member = pullRequest("opened", SECOND);
    member.pull_request.head.repo.full_name = REPO;
    member.pull_request.author_association = "MEMBER";
    await deliver("pull_request", member);
    await until(async () => (await app.store.jobsRepo.jobs()).length === 3, "the member's three jobs");
    expect(github.rejected).toEqual([]);
  });

  it("lists in the approval check run what the held jobs ask of the runner host: root, capabilities, devices, network", async () => {
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `${UNIT}    user: root
    capabilities: [NET_ADMIN, CAP_SYS_PTRACE]
    devices: [/dev/net/tun]
    network: true
  - name: plain
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
`,
    );
    await deliver("pull_request", pullRequest("opened", FIRST));
    const run = await held(FIRST);
    expect(run.output.summary).toContain(
      "They ask the runner host for more than kto's isolation defaults; approve only if the code may have it:\n\n" +
        "- `user: root`: 1 of 2 jobs\n- `capability: NET_ADMIN`: 1 of 2 jobs\n- `capability: SYS_PTRACE`: 1 of 2 jobs\n" +
        "- `device: /dev/net/tun`: 1 of 2 jobs\n- `network`: 1 of 2 jobs",
    );
    expect(run.output.summary).toContain(
      "- `kto / unit` (labels: x86_64; user: root; capability: NET_ADMIN; capability: SYS_PTRACE; device: /dev/net/tun; network)\n- `kto / plain` (labels: x86_64)",
    );
    expect(github.rejected).toEqual([]);
  });

  it("narrows a fork's held plan to the base branch's privileges: a suite asking for more is a config error, and the approval lists only what the others ask", async () => {
    github.state.files.set(`${REPO}@master:.github/kto.yml`, `${UNIT}privileges:\n  network: true\n`);
    github.state.files.set(
      `${REPO}@${FIRST}:.github/kto.yml`,
      `${UNIT}    network: true
  - name: escape
    runner: docker
    image: kto/busybox:1
    command: "true"
    hardware: { labels: [x86_64] }
    user: root
`,
    );
    await deliver("pull_request", pullRequest("opened", FIRST));
    const run = await held(FIRST);
    const config = await until(async () => checkRuns().find((c) => c.name === "kto / config" && c.head_sha === FIRST), "the config check run");
    expect(config).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(config.output.summary).toContain("suites[1].user: root is not allowed by privileges in the base branch's .github/kto.yml");
    expect(run.output.summary).toContain("approve only if the code may have it:\n\n- `network`: every job");
    expect(run.output.summary).not.toContain("escape");
    expect((await app.store.jobsRepo.jobs()).map((job) => [job.name, job.state])).toEqual([["unit", "awaiting_approval"]]);
    expect(github.state.dispatches).toEqual([]);
    expect(github.rejected).toEqual([]);
  });

  it("records why a run request passes the gate: GitHub sends one only for someone who can write", async () => {
    github.state.refs.set(`${REPO}@master`, FIRST);
    const dispatch = example("repository_dispatch", "on-demand-test", 0) as Record<string, unknown> & { sender: { login: string } };
    const pullRequestEvent = example("pull_request", "opened") as { repository: unknown; installation: unknown };
    Object.assign(dispatch, {
      action: "kto-run",
      client_payload: { ref: "master" },
      repository: pullRequestEvent.repository,
      installation: pullRequestEvent.installation,
    });
    dispatch.sender.login = "release-bot";
    await deliver("repository_dispatch", dispatch);
    await until(async () => github.state.dispatches.length === 1, "the requested run dispatched");
    const [planId] = await app.store.plans.planIds();
    expect(await app.store.plans.plan(planId!)).toMatchObject({
      trusted: true,
      gateReason: "@release-bot asked by repository_dispatch, and GitHub accepts a repository_dispatch only from a token that can write to the repository",
    });
    expect(github.rejected).toEqual([]);
  });
});

describe("needsApproval", () => {
  const trust = { ok_to_test_label: "kto/ok-to-test", trusted_associations: ["OWNER", "MEMBER", "COLLABORATOR"] };
  it("holds a pull request whose head repository is gone, whoever wrote it", () => {
    expect(needsApproval({ authorAssociation: "OWNER", headRepo: null, baseRepo: REPO, labels: [] }, trust)).toBe("its head repository was deleted");
  });
});
