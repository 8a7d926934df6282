/// <reference lib="dom" />
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chromium, type Browser, type Page } from "playwright-core";
import type { RunningApp } from "../../src/app/server.js";
import { keyedCases } from "../../src/runners/history/results-set.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { jobReport } from "../helpers/job-report.js";
import type { OidcIssuer } from "../helpers/oidc-issuer.js";
import { startTestApp, type TestApp } from "../helpers/test-app.js";
import { until } from "../helpers/until.js";
import { example } from "../helpers/webhook-examples.js";

/**
 * The dashboard's history pages in headless Chromium: base-branch results kept in the store
 * as pushes to the default branch leave them, a pull request's run through the App, and
 * each page read as a person sees it.
 */

const SCREENSHOTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const REPO = "Codertocat/Hello-World";
const HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const CONFIG = `version: 1\nsuites:\n  - { name: boot-x86, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [x86_64] } }\n`;
const HOUR = 3_600_000;
/** A name a repository could give a test: shown as text, never read as markup. */
const MARKUP = "<img src=x onerror=alert(1)>";
const baseSha = (n: number) => n.toString(16).padStart(2, "0").repeat(20);
const BASES = [1, 2, 3, 4].map(baseSha);

type Status = "passed" | "failed";
const cases = (statuses: Record<string, Status>) => Object.entries(statuses).map(([name, status]) => ({ path: ["math"], name, status }));
const BASE_CASES = { add: "passed", sub: "failed", [MARKUP]: "passed" } as const;
const HEAD_CASES = { add: "failed", sub: "failed", [MARKUP]: "passed", mul: "failed" } as const;

describe("the dashboard's history pages, in headless Chromium", () => {
  let github: GitHubApiDouble;
  let issuer: OidcIssuer;
  let app: RunningApp;
  let running: TestApp;
  let browser: Browser;
  let number: number;
  let checkRunId: number;

  const open = async (path: string, ready: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${app.url}${path}`);
    await page.waitForSelector(ready);
    return page;
  };
  const texts = (page: Page, selector: string) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent ?? ""));
  const shot = async (page: Page, name: string) => {
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  };

  beforeAll(async () => {
    running = await startTestApp();
    ({ github, issuer, app } = running);
    github.state.files.set(`${REPO}@${HEAD}:.github/kto.yml`, CONFIG);
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
    // Four commits of the default branch, an hour apart, each with the job's results. The
    // pull request branched from the third: the fourth finished before its run, and is no baseline of it.
    for (const [i, sha] of BASES.entries())
      github.state.commits.set(`${REPO}@${sha}`, { parents: i ? [BASES[i - 1]!] : [], message: `base ${i}`, author: "dev", date: "2026-12-01T00:00:00Z" });
    github.state.commits.set(`${REPO}@${HEAD}`, { parents: [BASES[2]!], message: "the pull request", author: "dev", date: "2026-12-01T00:00:00Z" });
    github.state.refs.set(`${REPO}@master`, BASES[3]!);
    const start = Date.now() - 10 * HOUR;
    for (const [i, sha] of BASES.entries()) {
      const list = cases(BASE_CASES);
      expect(
        await app.store.history.record({
          repo: REPO,
          sha,
          jobKey: "boot-x86",
          jobId: `base-${i}`,
          attempt: 1,
          planId: `base-plan-${i}`,
          groupKey: `push:${REPO}:master`,
          baselineRef: "master",
          entry: { name: "boot-x86", suite: "boot-x86", matrix: {}, status: "failed", outcome: "failed", reason: "", arch: "x86_64", labels: ["x86_64"] },
          cases: keyedCases("boot-x86", list).map(({ identity: _identity, ...c }) => c),
          finishedAt: start + i * HOUR,
        }),
      ).toBe(true);
      await app.store.history.accept(`base-${i}`, 1);
    }
    // The pull request's run, through the App: dispatched, reported with its cases, its check run completed.
    const opened = example("pull_request", "opened");
    number = (opened as { number: number }).number;
    await running.deliver("pull_request", opened);
    const dispatch = await until(async () => github.state.dispatches[0], "the job's dispatch");
    const job = JSON.parse(dispatch.inputs.job!) as { id: string };
    const token = await issuer.token(REPO, String(dispatch.runId), "https://kto.example.com");
    expect((await running.runEvent(job.id, token, { attempt: 1, kind: "started" })).status).toBe(200);
    const finished = {
      attempt: 1,
      kind: "finished",
      status: "failed",
      result: jobReport("boot-x86", "failed", { tests: { total: 4, passed: 1, failed: 3, errored: 0, skipped: 0 } }),
      cases: cases(HEAD_CASES),
    };
    expect((await running.runEvent(job.id, token, finished)).status).toBe(200);
    const checkRun = await until(
      async () => [...github.state.checkRuns.values()].find((c) => c.external_id === job.id && c.status === "completed"),
      "the check run",
    );
    checkRunId = checkRun.id as number;
    expect((checkRun.output as { summary: string }).summary).toContain(`at [${BASES[2]!.slice(0, 7)}]`);
    browser = await chromium.launch({ executablePath: process.env.KTO_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
  });

  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it("shows a pull request's regression apart from what already failed, linked to its check run", async () => {
    const page = await open(`/kto/pulls?repo=${encodeURIComponent(REPO)}&number=${number}`, "h3.job");
    expect(await texts(page, "h1")).toEqual([`${REPO} #${number}`]);
    expect(await texts(page, "h2")).toEqual(["boot-x86 · x86_64"]);
    expect(await texts(page, "p.summary")).toEqual(["1 job · 2 regressions"]);
    expect(await page.$eval("h3.job a", (a) => (a as HTMLAnchorElement).href)).toBe(`http://${new URL(github.url).host}/${REPO}/runs/${checkRunId}`);
    expect(await texts(page, "details.class-new li a")).toEqual(["boot-x86 › math › add"]);
    expect(await texts(page, "details.class-still_failing li a")).toEqual(["boot-x86 › math › sub"]);
    expect(await texts(page, "details.class-new_test li a")).toEqual(["boot-x86 › math › mul"]);
    expect(await page.$eval("details.class-new", (d) => (d as HTMLDetailsElement).open)).toBe(true);
    expect(await page.$eval("details.class-still_failing", (d) => (d as HTMLDetailsElement).open)).toBe(false);
    // The check run's baseline, the merge base, not the newer branch commit that finished first.
    expect((await texts(page, "p.baseline"))[0]).toMatch(new RegExp(`^baseline ${BASES[2]!.slice(0, 7)}, the merge base, as the check run compared \\(`));
    await shot(page, "dashboard-pull");

    // The regression's link opens the test's page.
    await page.click("details.class-new li a");
    await page.waitForSelector("table.grid");
    expect(await texts(page, "h1")).toEqual(["boot-x86 › math › add"]);
    await page.close();
  });

  it("shows a test's results across base-branch commits with the pull request's beside them, its pass rates, first failure and last pass", async () => {
    const page = await open(`/kto/tests?repo=${encodeURIComponent(REPO)}&job=boot-x86&test=${encodeURIComponent("math › add")}`, "table.grid");
    const row = (i: number) => page.$$eval(`table.grid tr:nth-child(${i}) td`, (cells) => cells.map((c) => c.textContent ?? ""));
    expect(await row(1)).toEqual(["✓", "✓", "✓", "✓", ""]);
    expect(await row(2)).toEqual(["", "", "", "", "✗"]);
    expect(await page.$eval("table.grid tr:nth-child(2) td:last-child", (c) => (c as HTMLElement).title)).toMatch(
      new RegExp(`^failed at ${HEAD.slice(0, 7)} \\(#${number}\\)`),
    );
    expect(await texts(page, "span.rate")).toEqual(["pass rate 7 days: 100% (4 of 4)  ", "pass rate 30 days: 100% (4 of 4)  "]);
    const standing = (await texts(page, "p.standing"))[0]!;
    expect(standing).toMatch(/^first failure: never · last pass: /);
    expect(standing).toContain(BASES[3]!.slice(0, 7));
    await shot(page, "dashboard-test");

    // A failing test: its first failure on the base branch, and no pass.
    await page.goto(`${app.url}/kto/tests?repo=${encodeURIComponent(REPO)}&job=boot-x86&test=${encodeURIComponent("math › sub")}`);
    await page.waitForSelector("table.grid");
    expect(await texts(page, "span.rate")).toEqual(["pass rate 7 days: 0% (0 of 4)  ", "pass rate 30 days: 0% (0 of 4)  "]);
    expect((await texts(page, "p.standing"))[0]).toMatch(new RegExp(`^first failure: ${BASES[0]!.slice(0, 7)} .* · last pass: never$`));
    await page.close();
  });

  it("compares two commits job by job, and shows a name with markup as text", async () => {
    const page = await open(`/kto/compare?repo=${encodeURIComponent(REPO)}&base=${BASES[3]}&head=${HEAD}`, "h2.job");
    expect(await texts(page, "h1")).toEqual([`${REPO} ${BASES[3]!.slice(0, 7)} → ${HEAD.slice(0, 7)}`]);
    expect(await texts(page, "h2.job")).toEqual(["boot-x86 · x86_64"]);
    expect(await texts(page, "details.class-new li a")).toEqual(["boot-x86 › math › add"]);
    expect((await texts(page, "p.counts"))[0]).toBe("1 regressions, 1 still failing, 1 new tests · 2 unchanged");
    // The test named with markup is unchanged, so open its page: its name is text.
    await page.goto(`${app.url}/kto/tests?repo=${encodeURIComponent(REPO)}&job=boot-x86&test=${encodeURIComponent(`math › ${MARKUP}`)}`);
    await page.waitForSelector("table.grid");
    expect(await texts(page, "h1")).toEqual([`boot-x86 › math › ${MARKUP}`]);
    expect(await page.$$("#main img")).toEqual([]);
    await shot(page, "dashboard-compare");
    await page.close();
  });

  it("answers 400 with what is wrong for a bad query, on the API and on the page", async () => {
    const bad = await fetch(`${app.url}/kto/api/pulls?repo=not-a-repo&number=x`);
    expect(bad.status).toBe(400);
    const { message } = (await bad.json()) as { message: string };
    expect(message).toContain("repo: must be owner/name");
    expect(message).toContain("number: Expected number");
    const short = await fetch(`${app.url}/kto/api/compare?repo=${encodeURIComponent(REPO)}&base=abc&head=${HEAD}`);
    expect(short.status).toBe(400);
    expect(((await short.json()) as { message: string }).message).toBe("base: must be a full commit id (40 or 64 lowercase hex digits)");
    expect((await fetch(`${app.url}/kto/api/tests?repo=${encodeURIComponent(REPO)}`)).status).toBe(400);
    expect((await fetch(`${app.url}/kto/api/activity?hours=0`)).status).toBe(400);
    const page = await open("/kto/tests?repo=a/b&key=x&key=y", "p.error");
    expect(await texts(page, "p.error")).toEqual(["key is given more than once"]);
    await page.close();
  });

  it("draws the queue and runner plots on the main page with uPlot, served by the App", async () => {
    const script = await fetch(`${app.url}/kto/assets/uplot.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    expect(await script.text()).toContain("uPlot");
    expect((await fetch(`${app.url}/kto/assets/uplot.css`)).status).toBe(200);
    const activity = (await (await fetch(`${app.url}/kto/api/activity?hours=6`)).json()) as { queueDepth: number[]; waits: { labels: string }[] };
    expect(Math.max(...activity.queueDepth)).toBeGreaterThanOrEqual(0);
    expect(activity.waits.map((w) => w.labels)).toEqual(["x86_64"]);
    const page = await open("/kto", "#plot-faults canvas");
    for (const id of ["plot-queue", "plot-waits", "plot-utilisation", "plot-faults"]) expect(await page.$$(`#${id} canvas`)).not.toEqual([]);
    expect(await texts(page, "#plot-waits .u-legend .u-series:not(:first-child) .u-label")).toEqual(["x86_64"]);
    expect(await texts(page, "#faults tbody td")).toEqual(["No infrastructure faults in this window."]);
    await shot(page, "dashboard-plots");
    await page.close();
    expect(github.rejected).toEqual([]);
  });
});
