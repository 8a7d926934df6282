import { createRequire } from "node:module";
import { afterAll, beforeAll, expect } from "@jest/globals";
import fc from "fast-check";
import type { RunningApp } from "../../../src/app/server.js";
import { isTerminal, JOB_STATES } from "../../../src/orchestrator/job-state.js";
import type { GitHubApiDouble } from "../../helpers/github-api-double.js";
import { PUBLIC_URL, startTestApp, type TestApp } from "../../helpers/test-app.js";

/**
 * The world of the boundary fuzz tests (test/security/boundary-fuzz/): one App per file,
 * against a GitHub API double that serves REPO's config at SHA and on master, with no
 * runner; the real payloads the fuzzing starts from and the hostile values it puts in them.
 * `app` and `github` are the current file's.
 */

const require = createRequire(import.meta.url);
export const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

export const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
export const CONFIG = `version: 1\nsuites:\n  - { name: unit, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }\n`;

/** A real pull_request.opened, from an installation (some examples carry none). */
export function openedPullRequest(): Record<string, unknown> {
  return structuredClone(examples.find((e) => e.name === "pull_request")!.examples.find((e) => e.action === "opened" && e.installation)!);
}

/** Any JSON value, with the odd shapes a hostile or broken sender would use. */
export const hostileValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.constant("../../etc/passwd"),
  fc.constant("a".repeat(10_000)),
  fc.constant({ __proto__: { polluted: true } }),
  fc.array(fc.string(), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxKeys: 5 }),
);

/** Replaces values at random paths of a real payload, or drops them. */
export function mutate(payload: Record<string, unknown>, edits: { path: number[]; value: unknown; drop: boolean }[]): Record<string, unknown> {
  const copy = structuredClone(payload);
  for (const edit of edits) {
    let node: Record<string, unknown> = copy;
    for (const [depth, step] of edit.path.entries()) {
      const keys = Object.keys(node);
      if (keys.length === 0) break;
      const key = keys[step % keys.length]!;
      const child = node[key];
      const last = depth === edit.path.length - 1 || child === null || typeof child !== "object";
      if (last) {
        if (edit.drop) delete node[key];
        else node[key] = edit.value;
        break;
      }
      node = child as Record<string, unknown>;
    }
  }
  return copy;
}

export let github: GitHubApiDouble;
export let app: RunningApp;
let running: TestApp;

/** Starts the App and its double before the calling file's tests, and closes them after the last. */
export function useFuzzedApp(): void {
  beforeAll(async () => {
    running = await startTestApp({ start: { orchestrator: { outbox: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50, concurrency: 4 } } } });
    ({ github, app } = running);
    github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, CONFIG);
    github.state.files.set(`${REPO}@master:.github/kto.yml`, CONFIG);
  });

  afterAll(async () => {
    await running.close();
  });
}

/** POSTs a webhook signed as GitHub signs it; the status. */
export function deliver(event: string, payload: unknown): Promise<number> {
  return running.deliver(event, payload);
}

/** A token the App's OIDC issuer signs for run 1 of REPO, with `claims` over the run's own. */
export function sign256(claims: Record<string, unknown>): Promise<string> {
  return running.issuer.token(REPO, "1", new URL(PUBLIC_URL).origin, claims);
}

/** The store after any input: every job in a known state, every finished one with an outcome. */
export async function expectConsistentStore(): Promise<void> {
  for (const job of await app.store.jobs.list()) {
    expect(JOB_STATES).toContain(job.state);
    if (isTerminal(job.state)) expect(job.finishedAt).not.toBeNull();
  }
  expect((await fetch(`${app.url}/kto/health`)).status).toBe(200);
}
