import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { readSettings, SettingsError } from "../../../src/app/settings.js";
import { startAppProcess } from "../../helpers/app-process.js";
import { queueWork, REPO, RUNNER, runnerListed, scratch, useScratch } from "./app-processes.js";

/** Who may read the App's state: nothing that names a repository or runner without KTO_READ_TOKEN, on an App others can reach. */

useScratch();

describe("read routes on an App with a public URL", () => {
  const health = [
    "effectFailuresInARow",
    "finalCheckRunsOldestMs",
    "finalCheckRunsPending",
    "github",
    "githubRateLimited",
    "lastTickAt",
    "leader",
    "monitorTicking",
    "outboxPending",
    "ready",
    "runnersRefused",
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
