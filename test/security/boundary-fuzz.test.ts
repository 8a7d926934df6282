import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import type { RunningApp } from "../../src/app/server.js";
import { isTerminal, JOB_STATES } from "../../src/orchestrator/job-state.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { PUBLIC_URL, startTestApp, type TestApp } from "../helpers/test-app.js";
import { until } from "../helpers/until.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const CONFIG = `version: 1\nsuites:\n  - { name: unit, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }\n`;

/** A real pull_request.opened, from an installation (some examples carry none). */
function openedPullRequest(): Record<string, unknown> {
  return structuredClone(examples.find((e) => e.name === "pull_request")!.examples.find((e) => e.action === "opened" && e.installation)!);
}

/** Any JSON value, with the odd shapes a hostile or broken sender would use. */
const hostileValue = fc.oneof(
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
function mutate(payload: Record<string, unknown>, edits: { path: number[]; value: unknown; drop: boolean }[]): Record<string, unknown> {
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

describe("no input takes the App down", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let running: TestApp;
  let sign256: (claims: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    running = await startTestApp({ start: { orchestrator: { outbox: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50, concurrency: 4 } } } });
    ({ github, app } = running);
    github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, CONFIG);
    github.state.files.set(`${REPO}@master:.github/kto.yml`, CONFIG);
    sign256 = (claims) => running.issuer.token(REPO, "1", new URL(PUBLIC_URL).origin, claims);
  });

  afterAll(async () => {
    await running.close();
  });

  function deliver(event: string, payload: unknown): Promise<number> {
    return running.deliver(event, payload);
  }

  /** The store after any input: every job in a known state, every finished one with an outcome. */
  async function expectConsistentStore(): Promise<void> {
    for (const job of await app.store.jobs()) {
      expect(JOB_STATES).toContain(job.state);
      if (isTerminal(job.state)) expect(job.finishedAt).not.toBeNull();
    }
    expect((await fetch(`${app.url}/kto/health`)).status).toBe(200);
  }

  it("ignores a signed webhook whose repository is not an owner/name, and goes on planning real ones", async () => {
    const before = github.state.checkRuns.size;
    for (const fullName of [42, "no-slash", "../../etc", { a: 1 }]) {
      const odd = openedPullRequest() as { repository: Record<string, unknown> };
      odd.repository = { ...odd.repository, full_name: fullName };
      expect(await deliver("pull_request", odd)).toBe(200);
    }
    expect(await deliver("pull_request", openedPullRequest())).toBe(200);
    await until(async () => github.state.checkRuns.size > before, "a check run for the real pull request");
    expect(github.rejected).toEqual([]);
  });

  it("signed webhooks of every event kto handles, mutated at random, leave it answering with a consistent store", async () => {
    const handled = [
      "pull_request",
      "issue_comment",
      "check_run",
      "check_suite",
      "repository_dispatch",
      "workflow_dispatch",
      "workflow_job",
      "installation",
      "installation_repositories",
    ];
    const payloads = examples.filter((e) => handled.includes(e.name)).flatMap((e) => e.examples.map((payload) => ({ event: e.name, payload })));
    expect(payloads.length).toBeGreaterThan(30);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: payloads.length - 1 }),
        fc.array(fc.record({ path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), value: hostileValue, drop: fc.boolean() }), {
          minLength: 1,
          maxLength: 6,
        }),
        async (index, edits) => {
          const { event, payload } = payloads[index]!;
          const status = await deliver(event, mutate(payload, edits));
          // A payload the handler cannot use is GitHub's to redeliver or drop: any answer but a dead socket.
          expect([200, 202, 400, 401, 404, 500]).toContain(status);
          expect((await fetch(`${app.url}/kto/health`)).status).toBe(200);
        },
      ),
      { numRuns: 150 },
    );
    await expectConsistentStore();
    // Still doing its work: a real pull request after the noise gets its check run.
    const before = github.state.checkRuns.size;
    const pr = openedPullRequest();
    expect(await deliver("pull_request", pr)).toBe(200);
    await until(async () => github.state.checkRuns.size > before, "a check run for the real pull request");
  }, 300_000);

  it("re-requests and requested actions of a fork's held commit, mutated at random, never let it out of the wait", async () => {
    const forkSha = "f".repeat(40);
    const number = 77;
    github.state.files.set(`${REPO}@${forkSha}:.github/kto.yml`, CONFIG);
    github.state.pulls.set(`${REPO}#${number}`, { number, head: { sha: forkSha, repo: { full_name: "stranger/Hello-World" } }, base: { ref: "master" } });
    const opened = openedPullRequest() as {
      number: number;
      pull_request: { number: number; author_association: string; head: { sha: string; repo: { full_name: string } } };
      repository: unknown;
      installation: unknown;
    };
    opened.number = number;
    opened.pull_request.number = number;
    opened.pull_request.author_association = "NONE";
    opened.pull_request.head.sha = forkSha;
    opened.pull_request.head.repo.full_name = "stranger/Hello-World";
    // Opened twice: the second plan supersedes the first, whose job ends, a job of a plan kto held.
    expect(await deliver("pull_request", opened)).toBe(200);
    expect(await deliver("pull_request", opened)).toBe(200);
    const plans = await app.store.plansAt(REPO, forkSha);
    const [ended] = await app.store.jobs({ planId: plans.at(-1)!.id });
    expect(ended?.state).toBe("cancelled");

    const example = (event: string, action: string) => structuredClone(examples.find((e) => e.name === event)!.examples.find((e) => e.action === action)!);
    const bySomeoneWhoCannotWrite = (payload: Record<string, unknown>) => {
      Object.assign(payload, {
        repository: opened.repository,
        installation: opened.installation,
        sender: { ...(payload.sender as object), login: "stranger" },
      });
      return payload;
    };
    const suite = example("check_suite", "rerequested") as { check_suite: Record<string, unknown> };
    Object.assign(suite.check_suite, { head_sha: forkSha, head_branch: null, pull_requests: [] });
    const pressed = (action: string) => {
      const payload = example("check_run", action) as { check_run: Record<string, unknown>; requested_action?: unknown };
      Object.assign(payload.check_run, { external_id: ended!.id, head_sha: forkSha, name: "kto / unit" });
      if (action === "requested_action") payload.requested_action = { identifier: "rerun" };
      return payload;
    };
    const presses = [
      { event: "check_suite", payload: bySomeoneWhoCannotWrite(suite) },
      { event: "check_run", payload: bySomeoneWhoCannotWrite(pressed("rerequested")) },
      { event: "check_run", payload: bySomeoneWhoCannotWrite(pressed("requested_action")) },
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: presses.length - 1 }),
        fc.array(fc.record({ path: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), value: hostileValue, drop: fc.boolean() }), { maxLength: 4 }),
        async (index, edits) => {
          const { event, payload } = presses[index]!;
          expect([200, 202, 400, 401, 404, 500]).toContain(await deliver(event, mutate(payload, edits)));
          // No runner is registered: a job let through would sit in the queue.
          for (const plan of await app.store.plansAt(REPO, forkSha))
            for (const job of await app.store.jobs({ planId: plan.id })) expect(["awaiting_approval", "cancelled"]).toContain(job.state);
        },
      ),
      { numRuns: 100 },
    );
    await expectConsistentStore();
    expect(github.state.dispatches.filter((d) => d.inputs.sha === forkSha)).toEqual([]);
  }, 300_000);

  it("job reports of any shape get an answer in 4xx, never a 500, and change no job they do not fit", async () => {
    const pr = openedPullRequest();
    expect(await deliver("pull_request", pr)).toBe(200);
    // No runner is registered: the job stays queued unless a report moves it.
    const job = await until(async () => (await app.store.jobs()).find((j) => j.state === "queued"), "a queued job");
    const token = await sign256({});
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostileValue,
          fc.record(
            {
              attempt: hostileValue,
              kind: fc.oneof(fc.constantFrom("started", "heartbeat", "finished", "exploded"), hostileValue),
              status: hostileValue,
              result: hostileValue,
            },
            { requiredKeys: [] },
          ),
        ),
        fc.constantFrom(job.id, "no-such-job", "../../kto/status", "%E0%A4%A"),
        async (body, id) => {
          const response = await fetch(`${app.url}/kto/api/jobs/${id.startsWith("%") ? id : encodeURIComponent(id)}/events`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          await response.arrayBuffer();
          expect(response.status).toBeGreaterThanOrEqual(400);
          // 503 is the App's "ask again" while GitHub does not list a run yet, and says when.
          if (response.status === 503) expect(response.headers.get("retry-after")).not.toBeNull();
          else expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
    // The token is for a run that is not this job's: nothing above could move it.
    expect((await app.store.job(job.id))?.state).toBe("queued");
    await expectConsistentStore();
  }, 300_000);
});
