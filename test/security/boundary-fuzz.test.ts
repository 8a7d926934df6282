import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { sign } from "@octokit/webhooks-methods";
import fc from "fast-check";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { startApp, WEBHOOKS_PATH, type RunningApp } from "../../src/app/server.js";
import { CAPABILITY_REACH } from "../../src/config/capability-reach.js";
import { DOCKER_DEVICES } from "../../src/config/docker-access.js";
import { isTerminal, JOB_STATES } from "../../src/orchestrator/job-state.js";
import { doubleAppSettings } from "../helpers/app-settings.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { runnerRunClaims } from "../helpers/oidc-issuer.js";
import { freshStore } from "../helpers/stores.js";
import { until } from "../helpers/until.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const SECRET = "webhook-secret";
const ISSUER = "https://token.actions.example";
const CONFIG = `version: 1\nsuites:\n  - { name: unit, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }\n`;

/** A real pull_request.opened, from an installation (some examples carry none). */
function openedPullRequest(): Record<string, unknown> {
  return structuredClone(examples.find((e) => e.name === "pull_request")!.examples.find((e) => e.action === "opened" && e.installation)!);
}

/** Capabilities of both kinds, and `contained`, to ask for and allow. */
const SOME_CAPABILITIES = ["CHOWN", "KILL", "NET_ADMIN", "SYS_ADMIN", "DAC_READ_SEARCH"] as const;

/** A base's `privileges:` (or none), and a head's suites asking for privileges at random. */
const privilegeDraw = fc.record({
  base: fc.option(
    fc.record({
      user: fc.constantFrom("root", "non-root"),
      capabilities: fc.subarray(["contained", ...SOME_CAPABILITIES]),
      devices: fc.subarray([...DOCKER_DEVICES]),
      network: fc.boolean(),
    }),
    { nil: undefined, freq: 5 },
  ),
  suites: fc.array(
    fc.record({ root: fc.boolean(), capabilities: fc.subarray([...SOME_CAPABILITIES]), devices: fc.subarray([...DOCKER_DEVICES]), network: fc.boolean() }),
    { minLength: 1, maxLength: 3 },
  ),
});
type PrivilegeDraw = typeof privilegeDraw extends fc.Arbitrary<infer T> ? T : never;

/** Written here, apart from kto's code: whether the base lets a suite have what it asks for. */
function baseAllows(base: PrivilegeDraw["base"], suite: PrivilegeDraw["suites"][number]): boolean {
  if (!base) return true;
  const capability = (name: (typeof SOME_CAPABILITIES)[number]) =>
    base.capabilities.includes(name) || (base.capabilities.includes("contained") && CAPABILITY_REACH[name] === null);
  return (
    (!suite.root || base.user === "root") &&
    (!suite.root || suite.capabilities.every(capability)) &&
    suite.devices.every((device) => base.devices.includes(device)) &&
    (!suite.network || base.network)
  );
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
  let dispose: () => Promise<void>;
  let jwks: ReturnType<typeof createServer>;
  let sign256: (claims: Record<string, unknown>) => Promise<string>;
  const publicUrl = "https://kto.example.com";

  beforeAll(async () => {
    github = await startGitHubApiDouble();
    github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, CONFIG);
    github.state.files.set(`${REPO}@master:.github/kto.yml`, CONFIG);
    const pair = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    jwks = createServer((_, response) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    sign256 = (claims) =>
      new SignJWT({ ...runnerRunClaims(REPO, "1"), ...claims })
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(ISSUER)
        .setAudience(new URL(publicUrl).origin)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(pair.privateKey);
    const fresh = await freshStore("sqlite");
    dispose = fresh.dispose;
    const settings = doubleAppSettings(github.url, {
      WEBHOOK_SECRET: SECRET,
      KTO_PUBLIC_URL: publicUrl,
      KTO_OIDC_ISSUER: ISSUER,
      KTO_OIDC_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
    });
    app = await startApp(settings, {
      store: fresh.store,
      logLevel: "fatal",
      throttle: false,
      runLookupDelayMs: 50,
      orchestrator: { pollMs: 100, outboxPollMs: 100, lockTtlMs: 2_000, outbox: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50, concurrency: 4 } },
    });
  });

  afterAll(async () => {
    await app.close();
    await dispose();
    await github.close();
    await new Promise((resolve) => jwks.close(resolve));
  });

  async function deliver(event: string, payload: unknown): Promise<number> {
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
    await response.arrayBuffer();
    return response.status;
  }

  /** The store after any input: every job in a known state, every finished one with an outcome. */
  async function expectConsistentStore(): Promise<void> {
    for (const job of await app.store.jobsRepo.jobs()) {
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

  it("a signed webhook that names no installation makes no call to GitHub: without one, each call would go unauthenticated", async () => {
    const kinds = ["pull_request", "check_suite", "check_run", "issue_comment", "workflow_dispatch", "repository_dispatch", "workflow_job"];
    const deliveries = examples
      .filter((e) => kinds.includes(e.name))
      .flatMap((e) => e.examples.map((payload) => ({ event: e.name, payload: { ...payload, installation: undefined } })));
    expect(deliveries.length).toBeGreaterThan(10);
    const before = github.requests.length;
    for (const { event, payload } of deliveries) expect(await deliver(event, payload)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(github.requests.slice(before)).toEqual([]);
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

  it("a head's suites asking for random privileges under a base allowing random ones: the App stores only the jobs the base allows, and says why of the rest", async () => {
    await fc.assert(
      fc.asyncProperty(privilegeDraw, fc.stringMatching(/^[0-9a-f]{40}$/), async ({ base, suites }, sha) => {
        // A base branch of its own for each draw: the App holds a branch's policy for a minute.
        const baseRef = `privileges-${sha.slice(0, 8)}`;
        const list = (values: readonly string[]) => `[${values.join(", ")}]`;
        const baseText = base
          ? `privileges: { user: ${base.user}, capabilities: ${list(base.capabilities)}, devices: ${list(base.devices)}, network: ${base.network} }\n`
          : "";
        github.state.files.set(`${REPO}@${baseRef}:.github/kto.yml`, `${CONFIG}${baseText}`);
        const head = suites.map(
          (suite, i) =>
            `  - { name: s${i}, runner: docker, image: kto/busybox:1, command: "true", network: ${suite.network}, devices: ${list(suite.devices)}` +
            `${suite.root ? `, user: root, capabilities: ${list(suite.capabilities)}` : ""} }\n`,
        );
        // The head's own privileges allow everything, and count for nothing.
        const everything = `privileges: { user: root, capabilities: ${list(SOME_CAPABILITIES)}, devices: ${list(DOCKER_DEVICES)}, network: true }\n`;
        github.state.files.set(`${REPO}@${sha}:.github/kto.yml`, `version: 1\nsuites:\n${head.join("")}${everything}`);
        const pr = openedPullRequest() as { pull_request: { head: { sha: string }; base: { ref: string } } };
        pr.pull_request.head.sha = sha;
        pr.pull_request.base.ref = baseRef;
        expect(await deliver("pull_request", pr)).toBe(200);

        const allowed = suites.flatMap((suite, i) => (baseAllows(base, suite) ? [`s${i}`] : []));
        const ofThisHead = async () => (await app.store.jobsRepo.jobs()).filter((job) => job.id.startsWith(`${REPO}@${sha.slice(0, 12)}-`));
        const configRun = () => [...github.state.checkRuns.values()].find((run) => run.name === "kto / config" && run.head_sha === sha);
        await until(async () => (await ofThisHead()).length === allowed.length && !configRun() === (allowed.length === suites.length), "the head planned");
        expect((await ofThisHead()).map((job) => job.name).sort()).toEqual(allowed);
        if (allowed.length < suites.length) expect(configRun()).toMatchObject({ conclusion: "failure" });
      }),
      { numRuns: 40 },
    );
    expect(github.rejected).toEqual([]);
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
    const plans = await app.store.plans.plansAt(REPO, forkSha);
    const [ended] = await app.store.jobsRepo.jobs({ planId: plans.at(-1)!.id });
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
          for (const plan of await app.store.plans.plansAt(REPO, forkSha))
            for (const job of await app.store.jobsRepo.jobs({ planId: plan.id })) expect(["awaiting_approval", "cancelled"]).toContain(job.state);
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
    const job = await until(async () => (await app.store.jobsRepo.jobs()).find((j) => j.state === "queued"), "a queued job");
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
    expect((await app.store.jobsRepo.job(job.id))?.state).toBe("queued");
    await expectConsistentStore();
  }, 300_000);
});
