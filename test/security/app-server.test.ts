import { submitPlan } from "../helpers/stores.js";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { readSettings, SettingsError } from "../../src/app/settings.js";
import { openStore } from "../../src/orchestrator/store/open-store.js";
import type { Store } from "../../src/orchestrator/store/store.js";
import { job } from "../helpers/job.js";
import { until } from "../helpers/until.js";
import { postStream, startAppProcess, type AppProcess } from "../helpers/app-process.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

const MB = 1024 * 1024;
const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const RUNNER = "rack-b7-secret";

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), "kto-security-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const marker = () => `kto-marker-${randomBytes(8).toString("hex")}`;

/** A webhook body of `total` bytes starting with `mark`, made of one reused megabyte: the test never holds more. */
function* body(mark: string, total: number): Generator<Buffer> {
  const head = Buffer.from(`{"action":"opened","note":"${mark}","pad":"`);
  yield head;
  const filler = Buffer.alloc(MB, 0x61);
  for (let sent = head.length; sent < total; sent += MB) yield sent + MB <= total ? filler : filler.subarray(0, total - sent);
}

const unsignedHeaders = {
  "content-type": "application/json",
  "x-github-event": "pull_request",
  "x-github-delivery": "attack-1",
  "x-hub-signature-256": `sha256=${"0".repeat(64)}`,
};

/** A pull request whose job waits for a label no runner has: the App lists the repository's runners, so its state names them. */
async function queueWork(app: AppProcess): Promise<void> {
  app.github.state.files.set(
    `${REPO}@${SHA}:.github/kto.yml`,
    `version: 1\nsuites:\n  - { name: board, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [arm64] } }\n`,
  );
  app.github.state.runners.set(REPO, [
    {
      id: 7,
      name: RUNNER,
      os: "linux",
      status: "online",
      busy: false,
      labels: ["self-hosted", "x86_64", `kto-runner-${RUNNER}`].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
    },
  ]);
  const opened = examples.find((e) => e.name === "pull_request")!.examples.filter((e) => e.action === "opened");
  expect(await app.deliver("pull_request", opened[Math.min(1, opened.length - 1)])).toBe(200);
}

/** The App's store, opened beside it (SQLite in WAL mode takes a second process). */
async function storeOf(app: AppProcess): Promise<Store> {
  return openStore({ dataDir: app.dataDir, databaseUrl: "" });
}

async function runnerListed(app: AppProcess): Promise<void> {
  const store = await storeOf(app);
  try {
    await until(
      async () => (await store.environmentsRepo.environments()).some((e) => e.labels.includes(`kto-runner-${RUNNER}`)),
      "the App to list the repository's runner",
      30_000,
    );
  } finally {
    await store.close();
  }
}

describe("webhook bodies, before their signature is checked", () => {
  let app: AppProcess;
  beforeAll(async () => {
    app = await startAppProcess(join(scratch, "webhooks"));
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("refuses a body declared larger than 25 MB with 413 before reading it, and logs none of it", async () => {
    const mark = marker();
    const answer = await postStream(`${app.url}/api/github/webhooks`, unsignedHeaders, body(mark, 26 * MB), 26 * MB);
    expect(answer.status).toBe(413);
    expect(answer.body).toContain("25 MB");
    expect(await app.logContains(mark)).toBe(false);
  });

  it("refuses a chunked body without Content-Length once it passes 25 MB, and logs none of it", async () => {
    const mark = marker();
    const answer = await postStream(`${app.url}/api/github/webhooks`, unsignedHeaders, body(mark, 26 * MB));
    expect(answer.status).toBe(413);
    expect(await app.logContains(mark)).toBe(false);
  });

  it("refuses a small body whose signature does not match with 401, and logs none of it", async () => {
    const mark = marker();
    const answer = await postStream(`${app.url}/api/github/webhooks`, unsignedHeaders, body(mark, 4096));
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toEqual({ message: "the webhook's X-Hub-Signature-256 does not match WEBHOOK_SECRET" });
    const unsigned = await postStream(`${app.url}/api/github/webhooks`, { ...unsignedHeaders, "x-hub-signature-256": "" }, body(mark, 4096));
    expect(unsigned.status).toBe(401);
    expect(await app.logContains(mark)).toBe(false);
  });
});

describe("signed webhook payloads", () => {
  it("are not logged when handling one fails: the failure is", async () => {
    const app = await startAppProcess(join(scratch, "handler-failure"));
    try {
      const mark = marker();
      // Signed, so it is handled, but with no head commit: the handler throws.
      await app.deliver("pull_request", {
        action: "opened",
        number: 1,
        pull_request: { number: 1, title: mark, labels: [] },
        repository: { full_name: REPO, name: "Hello-World", owner: { login: "Codertocat" }, default_branch: "master" },
        installation: { id: 7 },
      });
      await until(async () => (await app.logContains("kto: handling pull_request failed")) || null, "the failure to be logged", 15_000);
      expect(await app.logContains(mark)).toBe(false);
    } finally {
      await app.stop();
    }
  });
});

describe("read routes on an App with a public URL", () => {
  const health = [
    "deliveryFailuresInARow",
    "finalCheckRunsOldestMs",
    "finalCheckRunsPending",
    "github",
    "githubRateLimited",
    "lastTickAt",
    "leader",
    "monitorTicking",
    "outboxPending",
    "ready",
    "status",
    "store",
  ];

  it("answers nothing that reads state without KTO_READ_TOKEN, dashboard off or not; /kto/health stays public and names nothing", async () => {
    const app = await startAppProcess(join(scratch, "no-token"), { KTO_DASHBOARD: "off" });
    try {
      await queueWork(app);
      await runnerListed(app);
      for (const path of ["/kto/status", "/kto/metrics", "/kto", "/kto/", "/kto/api/dashboard", "/kto/status?format=json"]) {
        const response = await fetch(`${app.url}${path}`);
        const text = await response.text();
        expect({ path, status: response.status, leaks: text.includes(RUNNER) || text.includes(REPO) }).toEqual({ path, status: 401, leaks: false });
        expect(text).toContain("KTO_READ_TOKEN");
      }
      const answer = await fetch(`${app.url}/kto/health`);
      const text = await answer.text();
      expect([200, 503]).toContain(answer.status);
      expect(Object.keys(JSON.parse(text) as object).sort()).toEqual(health);
      expect(text).not.toContain(RUNNER);
      expect(text).not.toContain(REPO);
      expect(await app.logContains("answer 401: set KTO_READ_TOKEN")).toBe(true);
    } finally {
      await app.stop();
    }
  });

  it("with KTO_READ_TOKEN, serves status, metrics and the dashboard to that bearer token (or HTTP Basic with it as password) only", async () => {
    const token = randomBytes(24).toString("hex");
    const app = await startAppProcess(join(scratch, "token"), { KTO_READ_TOKEN: token });
    try {
      await queueWork(app);
      await runnerListed(app);
      for (const authorization of [
        undefined,
        "Bearer wrong-token",
        `Bearer ${token}x`,
        `Basic ${Buffer.from(`kto:${token.slice(1)}`).toString("base64")}`,
        token,
      ]) {
        const response = await fetch(`${app.url}/kto/status`, { headers: authorization ? { authorization } : {} });
        expect({ authorization, status: response.status }).toEqual({ authorization, status: 401 });
        expect(response.headers.get("www-authenticate")).toContain("Basic");
        expect(await response.text()).not.toContain(RUNNER);
      }
      const bearer = { authorization: `Bearer ${token}` };
      const status = await fetch(`${app.url}/kto/status`, { headers: bearer });
      expect(status.status).toBe(200);
      expect(await status.text()).toContain(`kto-runner-${RUNNER}`);
      const metrics = await fetch(`${app.url}/kto/metrics`, { headers: bearer });
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^kto_jobs\{state="(awaiting_approval|queued)"\} 1$/m);
      expect((await fetch(`${app.url}/kto/api/dashboard`, { headers: bearer })).status).toBe(200);
      // A browser asks for the token with its own prompt and sends it as Basic.
      const page = await fetch(`${app.url}/kto`, { headers: { authorization: `Basic ${Buffer.from(`anyone:${token}`).toString("base64")}` } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("<html");
    } finally {
      await app.stop();
    }
  });

  it("reads are open without a token only for an App that is local-only (loopback HOST and KTO_PUBLIC_URL), and a read token must be long", () => {
    const base = { APP_ID: "1", PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n", WEBHOOK_SECRET: "s" };
    expect(readSettings({ ...base, KTO_PUBLIC_URL: "https://kto.example.com" }, () => "").readAccess).toEqual({ kind: "token", token: null });
    expect(readSettings({ ...base, KTO_PUBLIC_URL: "https://kto.example.com", HOST: "127.0.0.1" }, () => "").readAccess).toEqual({
      kind: "token",
      token: null,
    });
    expect(readSettings({ ...base, KTO_PUBLIC_URL: "http://127.0.0.1:3000" }, () => "").readAccess).toEqual({ kind: "token", token: null });
    expect(readSettings({ ...base, KTO_PUBLIC_URL: "http://127.0.0.1:3000", HOST: "127.0.0.1" }, () => "").readAccess).toEqual({ kind: "public" });
    expect(readSettings({ ...base, KTO_PUBLIC_URL: "https://kto.example.com", KTO_READ_ACCESS: "public" }, () => "").readAccess).toEqual({ kind: "public" });
    const token = "t".repeat(32);
    expect(readSettings({ ...base, KTO_PUBLIC_URL: "http://localhost:3000", HOST: "localhost", KTO_READ_TOKEN: token }, () => "").readAccess).toEqual({
      kind: "token",
      token,
    });
    expect(() => readSettings({ ...base, KTO_PUBLIC_URL: "https://kto.example.com", KTO_READ_TOKEN: "short" }, () => "")).toThrow(
      /KTO_READ_TOKEN: at least 32 characters/,
    );
    expect(() => readSettings({ ...base, KTO_PUBLIC_URL: "https://kto.example.com", KTO_READ_TOKEN: token, KTO_READ_ACCESS: "public" }, () => "")).toThrow(
      SettingsError,
    );
    expect(() => readSettings({ ...base, KTO_PUBLIC_URL: "http://127.0.0.1:3000", HOST: "127.0.0.1", KTO_READ_ACCESS: "token" }, () => "")).toThrow(
      /KTO_READ_ACCESS: token needs KTO_READ_TOKEN/,
    );
  });
});

describe("the App's SQLite store on disk", () => {
  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it("creates the database and its -wal and -shm files readable by the App's user only", async () => {
    const app = await startAppProcess(join(scratch, "fresh-store"));
    try {
      await queueWork(app);
      const db = join(app.dataDir, "kto.db");
      for (const path of [db, `${db}-wal`, `${db}-shm`]) expect({ path, mode: (await mode(path)).toString(8) }).toEqual({ path, mode: "600" });
    } finally {
      await app.stop();
    }
  });

  it("makes an older store's 0644 files 0600 when it opens them", async () => {
    const dir = join(scratch, "older-store");
    const dataDir = join(dir, "app-data");
    const older = await openStore({ dataDir, databaseUrl: "" });
    await older.close();
    const db = join(dataDir, "kto.db");
    await chmod(db, 0o644);
    const app = await startAppProcess(dir);
    try {
      await queueWork(app);
      for (const path of [db, `${db}-wal`, `${db}-shm`]) expect({ path, mode: (await mode(path)).toString(8) }).toEqual({ path, mode: "600" });
    } finally {
      await app.stop();
    }
  });
});

describe("retention in App mode", () => {
  it("prunes finished plans older than KTO_RETENTION and keeps newer ones", async () => {
    const app = await startAppProcess(join(scratch, "retention"), { KTO_RETENTION: "10s" });
    const store = await storeOf(app);
    try {
      const seed = async (id: string, at: number) => {
        await submitPlan(store, {
          id,
          source: ".github/kto.yml",
          workspace: "",
          repo: REPO,
          installationId: 7,
          headSha: SHA,
          defaultRef: "master",
          approved: true,
          now: at,
          jobs: [{ id: `${id}/unit`, name: "unit", spec: job({ id: "unit" }), labels: [], priority: 2, maxAttempts: 1, retries: 0 }],
        });
        await store.transition({ jobId: `${id}/unit`, to: "cancelled", reason: "seeded", now: at });
      };
      await seed("old-plan", Date.now() - 3_600_000);
      await seed("new-plan", Date.now());
      await until(async () => (await store.plans.plan("old-plan")) === null, "the App to prune the plan that finished an hour ago", 30_000);
      expect(await store.plans.plan("new-plan")).not.toBeNull();
    } finally {
      await store.close();
      await app.stop();
    }
  });

  it("keeps 30 days by default, and a malformed KTO_RETENTION stops the App at start naming it", () => {
    const base = {
      APP_ID: "1",
      PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n",
      WEBHOOK_SECRET: "s",
      KTO_PUBLIC_URL: "https://kto.example.com",
    };
    expect(readSettings(base, () => "").KTO_RETENTION).toBe(30 * 86_400_000);
    expect(readSettings({ ...base, KTO_RETENTION: "12h" }, () => "").KTO_RETENTION).toBe(12 * 3_600_000);
    expect(() => readSettings({ ...base, KTO_RETENTION: "soon" }, () => "")).toThrow(/KTO_RETENTION: a duration like 30d or 12h/);
  });
});
