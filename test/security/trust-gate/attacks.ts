import { afterEach, beforeEach, expect } from "@jest/globals";
import type { RunningApp } from "../../../src/app/server.js";
import { shownCheckRun, type GitHubApiDouble, type RepositoryRole } from "../../helpers/github-api-double.js";
import { startTestApp, type TestApp } from "../../helpers/test-app.js";
import { until } from "../../helpers/until.js";
import { example } from "../../helpers/webhook-examples.js";

/**
 * The world of the trust gate's attack tests (test/security/trust-gate/): before each test
 * a fresh App against a fresh GitHub API double, where a fork's author opens pull request
 * #2 of REPO and the roles of ROLES can act on it; the events they send, as GitHub sends
 * them. `app` and `github` are the current test's.
 */

export { example };

export const REPO = "Codertocat/Hello-World";
export const FORK = "stranger/Hello-World";
export const NUMBER = 2;
export const FIRST = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
export const SECOND = "2222222222222222222222222222222222222222";
export const UNIT = `version: 1
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

export interface PullRequestPayload {
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

export type CheckRunView = {
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
export async function stampAfterNow(): Promise<string> {
  const next = (Math.floor(Date.now() / 1000) + 1) * 1000;
  await new Promise((resolve) => setTimeout(resolve, next - Date.now() + 5));
  return githubTime(Date.now());
}

export let github: GitHubApiDouble;
export let app: RunningApp;
let current: TestApp;

/** Starts the App and its double before each test of the calling file, and closes them after it. */
export function useAppUnderAttack(): void {
  beforeEach(async () => {
    current = await startTestApp();
    ({ github, app } = current);
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
  });

  afterEach(async () => {
    await current.close();
  });
}

/** Sends a webhook as GitHub does; the App takes it (200). */
export async function deliver(event: string, payload: unknown): Promise<void> {
  expect(await current.deliver(event, payload)).toBe(200);
}

/** A pull request event of the fork's pull request at `sha`, sent as GitHub sends it. */
export function pullRequest(action: string, sha: string, labels: string[] = [], sender = "stranger"): PullRequestPayload {
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
export function labeled(sha: string, label: string, sender: string, others: string[] = []): PullRequestPayload {
  const payload = pullRequest("labeled", sha, [...others, label], sender);
  payload.label = payload.pull_request.labels.at(-1);
  return payload;
}

export function comment(body: string, login: string, association: string, createdAt: string): Record<string, unknown> {
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
export function suiteRerequested(sha: string, sender: string): Record<string, unknown> {
  const payload = example("check_suite", "rerequested", 0) as { check_suite: Record<string, unknown>; sender: { login: string } };
  payload.check_suite.head_sha = sha;
  payload.check_suite.head_branch = null;
  payload.check_suite.pull_requests = [];
  payload.sender.login = sender;
  return payload;
}

/** `sender` presses a job's check run's "Re-run" (rerequested) or its "Re-run failed" button (requested_action). */
export function checkRunPressed(action: "rerequested" | "requested_action", run: CheckRunView, sender: string): Record<string, unknown> {
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

export const checkRuns = () => [...github.state.checkRuns.values()] as unknown as CheckRunView[];
/** The commit's "kto / approval" check run as GitHub shows it: the newest. */
export const shownApproval = (sha: string) => shownCheckRun(github.state, sha, "kto / approval") as CheckRunView | undefined;
export const dispatchedShas = () => github.state.dispatches.map((d) => d.inputs.sha);

/** The commit's approval check run (one for the plan's jobs), once it waits for approval. */
export async function held(sha: string): Promise<CheckRunView> {
  return until(
    async () => checkRuns().find((c) => c.name === "kto / approval" && c.head_sha === sha && c.conclusion === "action_required"),
    `${sha.slice(0, 7)} held for approval`,
    15_000,
  );
}
