/// <reference lib="dom" />
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { chromium, type Browser, type Page } from "playwright-core";
import { runningOutput } from "../../src/app/bisect/bisection-markdown.js";
import { begun, judged, nextBisectionMove, type BisectionCommit, type BisectionState } from "../../src/app/bisect/bisection-state.js";
import type { RunningApp } from "../../src/app/server.js";
import { bisectGroupOf } from "../../src/app/webhooks/plan-target.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { job } from "../helpers/job.js";
import { submitPlan } from "../helpers/stores.js";
import { startTestApp, type TestApp } from "../helpers/test-app.js";

/**
 * A bisection's page and the repository's list of bisections in headless Chromium, from
 * bisections kept in the App's own store as the bisector keeps them.
 */

const SCREENSHOTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const REPO = "Codertocat/Hello-World";
const ID = "0a1b2c3d4e5f";
const RUNNING_ID = "ffeeddccbbaa";
const CANCELLED_ID = "c0c0c0c0c0c0";
/** A commit title a repository could hold: shown as text, never read as markup. */
const MARKUP = "<img src=x onerror=alert(1)>";
const sha = (n: number) => n.toString(16).padStart(2, "0").repeat(20);
const GOOD = sha(0x10);
const COMMITS: BisectionCommit[] = [1, 2, 3, 4].map((i) => ({
  sha: sha(0x10 + i),
  title: i === 2 ? MARKUP : `commit ${i}`,
  author: i === 2 ? "@mallory" : `author ${i}`,
}));
const CULPRIT = 2;
const STEP_CHECK_RUN = 4242;
const BISECT_CHECK_RUN = 9001;

/** The steps a search takes when every commit from `CULPRIT` on is bad: the state the bisector would store. */
function searched(): BisectionState {
  let state: BisectionState = { steps: [] };
  for (;;) {
    const move = nextBisectionMove(COMMITS.length, state);
    if (move.kind !== "test") return state;
    state = begun(state, move.position, COMMITS);
    const at = COMMITS[move.position - 1]!.sha;
    state = judged(state, at, move.position >= CULPRIT ? "bad" : "good", move.position >= CULPRIT ? "1 of 1 failed" : "passed")!;
  }
}

describe("the dashboard's bisection page, in headless Chromium", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let running: TestApp;
  let browser: Browser;
  let state: BisectionState;

  const server = () => `http://${new URL(github.url).host}`;
  const open = async (path: string, ready: string): Promise<Page> => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${app.url}${path}`);
    await page.waitForSelector(ready);
    return page;
  };
  const texts = (page: Page, selector: string) => page.$$eval(selector, (nodes) => nodes.map((n) => n.textContent ?? ""));
  const hrefs = (page: Page, selector: string) => page.$$eval(selector, (nodes) => nodes.map((n) => (n as HTMLAnchorElement).href));
  const shot = async (page: Page, name: string) => {
    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  };

  beforeAll(async () => {
    running = await startTestApp();
    ({ github, app } = running);
    state = searched();
    const common = {
      repo: REPO,
      installationId: 1,
      suite: "boot-x86",
      jobKey: "boot-x86",
      goodSha: GOOD,
      tests: JSON.stringify([{ key: "boot-x86\u0000math\u0000add", shown: "boot-x86 › math › add" }]),
      commits: JSON.stringify(COMMITS),
      startedBy: "maintainer",
    };
    await app.store.bisections.create({
      ...common,
      id: ID,
      jobKey: "boot-x86",
      badSha: COMMITS.at(-1)!.sha,
      state: JSON.stringify(state),
      status: "found",
      createdAt: Date.now() - 60_000,
    });
    await app.store.bisections.setCheckRunId(ID, BISECT_CHECK_RUN);
    await app.store.bisections.create({
      ...common,
      id: RUNNING_ID,
      jobKey: "boot-arm",
      badSha: COMMITS.at(-1)!.sha,
      state: JSON.stringify(begun({ steps: [] }, 2, COMMITS)),
      status: "running",
      createdAt: Date.now(),
    });
    // Cancelled after its first step found commit 2 bad: the culprit is commit 1 or 2.
    await app.store.bisections.create({
      ...common,
      id: CANCELLED_ID,
      jobKey: "boot-riscv",
      badSha: COMMITS.at(-1)!.sha,
      state: JSON.stringify({ ...judged(begun({ steps: [] }, 2, COMMITS), COMMITS[1]!.sha, "bad", "1 of 1 failed")!, cancelledBy: "maintainer" }),
      status: "cancelled",
      createdAt: Date.now() - 120_000,
    });
    // The first step's plan, as the bisector submits it: held for approval here, so the App dispatches nothing.
    const first = state.steps[0]!.sha;
    await submitPlan(app.store, {
      id: "bisect-step-1",
      source: ".github/kto.yml",
      workspace: REPO,
      repo: REPO,
      installationId: 1,
      headSha: first,
      defaultRef: "master",
      groupKey: bisectGroupOf(REPO, ID),
      approved: false,
      approvalReason: "held in this test",
      jobs: [
        {
          id: "bisect-step-1-job",
          name: "boot-x86",
          spec: job({ id: "boot-x86", labels: ["x86_64"] }),
          labels: ["x86_64"],
          priority: 0,
          maxAttempts: 1,
          retries: 0,
        },
      ],
      now: Date.now(),
    });
    await app.store.jobs.setCheckRunId("bisect-step-1-job", STEP_CHECK_RUN);
    browser = await chromium.launch({ executablePath: process.env.KTO_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
  });

  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it("shows a bisection's range, culprit, steps and check runs, with a commit title of markup as text", async () => {
    const page = await open(`/kto/bisections?repo=${encodeURIComponent(REPO)}&id=${ID}`, "table.steps");
    expect(await texts(page, "h1")).toEqual([`${REPO} · bisecting boot-x86`]);
    expect(await hrefs(page, "p.range a")).toEqual([`${server()}/${REPO}/commit/${GOOD}`, `${server()}/${REPO}/commit/${COMMITS.at(-1)!.sha}`]);
    expect(await texts(page, "p.status span.found")).toEqual(["found"]);
    expect(await hrefs(page, "p.status a")).toEqual([`${server()}/${REPO}/runs/${BISECT_CHECK_RUN}`]);

    const culprit = COMMITS[CULPRIT - 1]!;
    expect(await texts(page, "p.culprit")).toEqual([`First bad commit: ${culprit.sha.slice(0, 7)} ${MARKUP} by @mallory`]);
    expect(await hrefs(page, "p.culprit a")).toEqual([`${server()}/${REPO}/commit/${culprit.sha}`]);
    expect((await texts(page, "p.confidence"))[0]).toMatch(/^Confidence: high: /);

    const rows = await page.$$eval("table.steps tr:not(:first-child)", (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent ?? "")),
    );
    expect(rows).toEqual(
      state.steps.map((step, i) => {
        const commit = COMMITS[step.position - 1]!;
        return [String(i + 1), commit.sha.slice(0, 7), commit.title, commit.author, step.verdict!, step.note!, i === 0 ? "check run" : "—"];
      }),
    );
    expect(rows.map((r) => r[2])).toContain(MARKUP);
    expect(await hrefs(page, "table.steps tr:nth-child(2) td:last-child a")).toEqual([`${server()}/${REPO}/runs/${STEP_CHECK_RUN}`]);
    // The title is text: no element was made of it, and its script never ran.
    expect(await page.$$("#main img")).toEqual([]);
    await shot(page, "dashboard-bisection");

    // The page links the repository's list, which links back to each bisection.
    await page.click("text=all bisections of");
    await page.waitForSelector("table.bisections");
    expect(await texts(page, "table.bisections td:first-child a")).toEqual([RUNNING_ID, ID, CANCELLED_ID]);
    expect(await texts(page, "table.bisections tr:nth-child(4) td:nth-child(4) span.cancelled")).toEqual(["cancelled"]);
    expect(await texts(page, "table.bisections tr:nth-child(3) td:nth-child(4)")).toEqual(["found"]);
    expect((await texts(page, "table.bisections tr:nth-child(3) td:nth-child(6)"))[0]).toBe(`${culprit.sha.slice(0, 7)} ${MARKUP} by @mallory`);
    expect(await page.$$("#main img")).toEqual([]);
    await shot(page, "dashboard-bisections");
    await page.click(`text=${ID}`);
    await page.waitForSelector("table.steps");
    expect(await texts(page, "h1")).toEqual([`${REPO} · bisecting boot-x86`]);
    await page.close();
  });

  it("shows a cancelled bisection: who cancelled it and the range its steps had narrowed", async () => {
    const page = await open(`/kto/bisections?repo=${encodeURIComponent(REPO)}&id=${CANCELLED_ID}`, "table.steps");
    expect(await texts(page, "p.status span.cancelled")).toEqual(["cancelled"]);
    expect(await texts(page, "p.cancelled-by")).toEqual([
      `Cancelled by maintainer: the first bad commit is one of 2 commits, from ${COMMITS[0]!.sha.slice(0, 7)} commit 1 by author 1 up to ${COMMITS[1]!.sha.slice(0, 7)} ${MARKUP} by @mallory`,
    ]);
    expect(await hrefs(page, "p.cancelled-by a")).toEqual([`${server()}/${REPO}/commit/${COMMITS[0]!.sha}`, `${server()}/${REPO}/commit/${COMMITS[1]!.sha}`]);
    expect(await page.$$("p.culprit, ul.candidates")).toEqual([]);
    expect(await page.$$("#main img")).toEqual([]);
    await shot(page, "dashboard-bisection-cancelled");
    await page.close();
  });

  it("is linked from the kto / bisect check run's summary, by a URL the page reads", async () => {
    const pageUrl = `${app.url}/kto/bisections?${new URLSearchParams({ repo: REPO, id: ID }).toString()}`;
    const view = {
      repo: REPO,
      serverUrl: server(),
      suite: "boot-x86",
      jobKey: "boot-x86",
      goodSha: GOOD,
      badSha: COMMITS.at(-1)!.sha,
      shown: ["boot-x86 › math › add"],
      commits: COMMITS,
      state,
      startedBy: "maintainer",
    };
    expect(runningOutput({ ...view, pageUrl }).summary).toContain(`[the bisection's page](${pageUrl})`);
    expect(runningOutput(view).summary).not.toContain("the bisection's page");
    const page = await browser.newPage();
    await page.goto(pageUrl);
    await page.waitForSelector("p.culprit");
    await page.close();
  });

  it("answers 400 for a bad id or repository, and 404 for a bisection it does not have", async () => {
    const bad = await fetch(`${app.url}/kto/api/bisections?repo=${encodeURIComponent(REPO)}&id=not-an-id`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe("id: must be a bisection id (12 lowercase hex digits)");
    expect((await fetch(`${app.url}/kto/api/bisections?repo=nope&id=${ID}`)).status).toBe(400);
    const missing = await fetch(`${app.url}/kto/api/bisections?repo=${encodeURIComponent(REPO)}&id=000000000000`);
    expect(missing.status).toBe(404);
    // Another repository's name does not reach this one's bisection.
    expect((await fetch(`${app.url}/kto/api/bisections?repo=other/repo&id=${ID}`)).status).toBe(404);
    const page = await open(`/kto/bisections?repo=${encodeURIComponent(REPO)}&id=${encodeURIComponent("<b>x</b>")}`, "p.error");
    expect(await texts(page, "p.error")).toEqual(["id: must be a bisection id (12 lowercase hex digits)"]);
    await page.close();
    expect(github.rejected).toEqual([]);
  });
});
