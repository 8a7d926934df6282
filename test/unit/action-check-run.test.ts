import { afterEach, beforeEach, describe, expect, it } from "@jest/globals";
import { getOctokit } from "@actions/github";
import { createCheckRun } from "../../src/action/check-run.js";
import { runReport } from "../../src/runners/report/run-report.js";
import { summaryMarkdown } from "../../src/runners/report/summary-markdown.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { jobReport } from "../helpers/job-report.js";

/** The action's own check run (standalone, with the workflow's token), against the GitHub API double. */

const TOKEN = "ghs_workflow";
const PLACE = { owner: "Codertocat", repo: "Hello-World", sha: "ec26c3e57ca3a959ca5aad62de7213c562f8c821" };
const RUN_URL = "https://github.com/Codertocat/Hello-World/actions/runs/7";

type CheckRun = { status: string; conclusion: string; details_url?: string; output: { title: string; summary: string; annotations: unknown[] } };

describe("the action's own check run", () => {
  let github: GitHubApiDouble;

  beforeEach(async () => {
    github = await startGitHubApiDouble();
    // The workflow's GITHUB_TOKEN, with what `permissions: checks: write` grants.
    github.state.tokens.set(TOKEN, { checks: "write" });
  });

  afterEach(async () => {
    await github.close();
  });

  const octokit = () => getOctokit(TOKEN, { baseUrl: github.url });
  const checkRuns = () => [...github.state.checkRuns.values()] as unknown as CheckRun[];

  /** A run whose one job failed `count` tests, each at its own line. */
  function failedRun(count: number) {
    const failures = Array.from({ length: count }, (_, i) => ({
      name: `case ${i}`,
      path: ["math"],
      status: "failed" as const,
      reason: "expected 4, got 3",
      location: { file: "lib/math.c", line: i + 1 },
    }));
    const job = jobReport("unit", "failed", { failures, tests: { total: count, passed: 0, failed: count, errored: 0, skipped: 0 } });
    return runReport(".github/kto.yml", [job], new Date(), new Date());
  }

  it("costs one request however many tests failed: a test binary with 100,000 failures sends 50 annotations", async () => {
    const report = failedRun(100_000);
    await createCheckRun(octokit(), PLACE, "kto / unit", report, summaryMarkdown(report, { linkBase: "" }), RUN_URL);
    expect(github.requests.map((r) => r.operationId)).toEqual(["checks/create"]);
    expect(checkRuns()[0]).toMatchObject({ status: "completed", conclusion: "failure" });
    expect(checkRuns()[0]!.output.annotations).toHaveLength(50);
    expect(github.rejected).toEqual([]);
  });

  it("is created with a short summary when GitHub refuses its output, so its conclusion shows", async () => {
    const report = failedRun(3);
    github.state.outputRefusals.push("Invalid request.\n\nOnly 65535 characters are allowed; 65672 were supplied.");
    await createCheckRun(octokit(), PLACE, "kto / unit", report, summaryMarkdown(report, { linkBase: "" }), RUN_URL);
    expect(checkRuns()).toHaveLength(1);
    const run = checkRuns()[0]!;
    expect(run).toMatchObject({
      status: "completed",
      conclusion: "failure",
      details_url: RUN_URL,
      output: { title: "0 passed, 3 failed, 0 errored, 0 skipped", annotations: [] },
    });
    expect(run.output.summary).toContain(
      "**GitHub refused this check run's full output** (Invalid request. Only 65535 characters are allowed; 65672 were supplied.)",
    );
    expect(run.output.summary).toContain("and 3 annotations.");
    expect(run.output.summary).toContain(`[the workflow run's job summary and results artifact](${RUN_URL})`);
    expect(github.rejected).toEqual([]);
  });
});
