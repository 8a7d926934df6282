/// <reference lib="dom" />
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chromium, type Browser, type Page } from "playwright-core";
import type { RunningApp } from "../../src/app/server.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { jobReport } from "../helpers/job-report.js";
import type { OidcIssuer } from "../helpers/oidc-issuer.js";
import { startTestApp, type TestApp } from "../helpers/test-app.js";
import { until } from "../helpers/until.js";
import { example } from "../helpers/webhook-examples.js";
const SCREENSHOTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const REPO = "Codertocat/Hello-World";
const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const suite = (name: string, priority: string, label: string) =>
  `  - { name: ${name}, runner: docker, image: kto/busybox:1, command: "true", priority: ${priority}, hardware: { labels: [${label}] } }\n`;
const CONFIG = `version: 1\nsuites:\n${suite("boot-x86", "high", "x86_64")}${suite("board-low", "low", "arm64")}${suite("board-urgent", "urgent", "arm64")}${suite("board-normal", "normal", "arm64")}`;

const column = (page: Page, table: string, index: number) =>
  page.$$eval(`#${table} tbody tr`, (rows, i) => rows.map((r) => r.children[i]?.textContent ?? ""), index);

describe("the dashboard at /kto, in headless Chromium", () => {
  let github: GitHubApiDouble;
  let issuer: OidcIssuer;
  let app: RunningApp;
  let running: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    running = await startTestApp();
    ({ github, issuer, app } = running);
    github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, CONFIG);
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
    browser = await chromium.launch({ executablePath: process.env.KTO_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
  });

  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  async function report(jobId: string, runId: number, body: Record<string, unknown>): Promise<number> {
    const value = await issuer.token(REPO, String(runId), "https://kto.example.com");
    return (await running.runEvent(jobId, value, body)).status;
  }

  it("shows the queue by priority, runners with labels, running jobs with elapsed time, and recent results with links, refreshing live", async () => {
    // The example whose repository and head commit the double serves, from a trusted author.
    await running.deliver("pull_request", example("pull_request", "opened"));
    const dispatch = await until(async () => github.state.dispatches[0], "the x86 job's dispatch");
    const job = JSON.parse(dispatch.inputs.job!) as { id: string; attempt: number };
    expect(await report(job.id, dispatch.runId, { attempt: 1, kind: "started" })).toBe(200);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${app.url}/kto`);
    await page.waitForSelector("#running tbody tr td.elapsed");
    expect(await column(page, "queue", 1)).toEqual(["board-urgent", "board-normal", "board-low"]);
    expect(await column(page, "queue", 4)).toEqual(["arm64", "arm64", "arm64"]);
    expect(await column(page, "runners", 0)).toEqual(["rack-1"]);
    expect(await column(page, "runners", 1)).toEqual(["busy"]);
    expect((await column(page, "runners", 2))[0]).toContain("kto-runner-rack-1");
    expect(await column(page, "running", 0)).toEqual(["boot-x86"]);
    expect(await page.$eval("#running a", (a) => (a as HTMLAnchorElement).href)).toBe(
      `http://${new URL(github.url).host}/${REPO}/actions/runs/${dispatch.runId}`,
    );
    const elapsed = (await column(page, "running", 4))[0];
    await page.waitForFunction((before) => document.querySelector("#running td.elapsed")?.textContent !== before, elapsed, { timeout: 5_000 });

    // The job finishes; the page shows it without a reload.
    const result = jobReport("boot-x86", "failed");
    expect(await report(job.id, dispatch.runId, { attempt: 1, kind: "finished", status: "failed", result })).toBe(200);
    await page.waitForFunction(() => document.querySelector("#recent tbody tr td")?.textContent === "boot-x86", undefined, { timeout: 10_000 });
    expect(await column(page, "recent", 2)).toEqual(["failure"]);
    expect(await column(page, "recent", 3)).toEqual(["2 passed, 1 failed, 0 errored, 0 skipped"]);
    const checkRun = [...github.state.checkRuns.values()].find((c) => c.external_id === job.id)!;
    expect(await page.$$eval("#recent a", (links) => links.map((a) => (a as HTMLAnchorElement).href))).toEqual([
      `http://${new URL(github.url).host}/${REPO}/runs/${checkRun.id as number}`,
      `http://${new URL(github.url).host}/${REPO}/actions/runs/${dispatch.runId}`,
    ]);
    await page.waitForFunction(() => document.querySelector("#running tbody td")?.className === "empty", undefined, { timeout: 5_000 });
    expect(await column(page, "runners", 1)).toEqual(["online"]);
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}dashboard.png`, fullPage: true });
    expect(github.rejected).toEqual([]);
  });

  it("is off with KTO_DASHBOARD=off, where names must not be public", async () => {
    const off = await startTestApp({ github, settings: { KTO_DASHBOARD: "off" } });
    const hidden = off.app;
    try {
      for (const path of ["/kto", "/kto/api/dashboard", "/kto/api/activity", "/kto/pulls", "/kto/api/tests", "/kto/compare", "/kto/assets/uplot.js"]) {
        const response = await fetch(`${hidden.url}${path}`);
        expect(response.status).toBe(404);
        expect(((await response.json()) as { message: string }).message).toBe("the dashboard is off (KTO_DASHBOARD=off)");
      }
      expect((await fetch(`${hidden.url}/kto/status`)).status).toBe(200);
    } finally {
      await off.close();
    }
  });
});
