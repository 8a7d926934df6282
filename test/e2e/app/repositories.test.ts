import { describe, expect, it } from "@jest/globals";
import { readFile } from "node:fs/promises";
import { parseConfig } from "../../../src/config/load-config.js";
import { app, checkRuns, deliver, example, github, REPO, SHA, useAppUnderTest } from "./app-under-test.js";
import { selfHostedRunner } from "../../helpers/github-api-double.js";
import { until, untilSettled } from "../../helpers/until.js";

/** What the App does for a repository: the setup check run on installation, an invalid config answered, the organisation's runners, and an uninstall. */

describe("the kto GitHub App against a GitHub API double", () => {
  useAppUnderTest();

  it("shows the files to add in a kto / setup check run when the runner workflow is missing, and sets up every repository it can", async () => {
    const installed = example("installation", "created", 1) as { repositories: { full_name: string }[]; installation: { id: number } };
    // The first repository's default branch cannot be read: the second is set up all the same.
    installed.repositories = [{ ...installed.repositories[0]!, full_name: "Codertocat/unreadable" }, ...installed.repositories];
    github.state.refs.set(`${REPO}@master`, SHA);
    expect(await deliver("installation", installed)).toBe(500);
    const setup = await until(async () => checkRuns().find((c) => c.name === "kto / setup"), "the setup check run");
    expect(setup).toMatchObject({
      head_sha: SHA,
      status: "completed",
      conclusion: "neutral",
      output: { title: "Add .github/workflows/kto-runner.yml and .github/kto.yml to run kto here" },
    });
    expect(setup.output.summary).toContain("commit these files to `master`");
    const text = (setup as unknown as { output: { text: string } }).output.text;
    const [workflow, starter] = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(workflow).toBe(await readFile(new URL("../../../self-hosted/kto-runner.yml", import.meta.url), "utf8"));
    expect(() => parseConfig(starter!)).not.toThrow();
    // kto wrote nothing to the repository.
    expect(
      github.requests.filter((r) => r.method !== "GET" && r.operationId !== "checks/create" && r.operationId !== "apps/create-installation-access-token"),
    ).toEqual([]);
    expect(github.requests.some((r) => r.operationId === "actions/list-self-hosted-runners-for-repo")).toBe(true);

    // Installed again once the workflow is there: nothing more to show.
    github.state.files.set(`${REPO}@master:.github/workflows/kto-runner.yml`, "name: kto runner\n");
    expect(await deliver("installation", example("installation", "created", 1))).toBe(200);
    await untilSettled({ app, github });
    expect(checkRuns()).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("answers an invalid config with one failed kto / config check run pointing at the line", async () => {
    github.state.files.set(
      `${REPO}@${SHA}:.github/kto.yml`,
      "version: 1\nsuites:\n  - name: unit\n    runner: docker\n    image: x\n    command: y\n    timeout: soon\n",
    );
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    const run = await until(async () => checkRuns()[0], "the config check run");
    expect(run).toMatchObject({ name: "kto / config", status: "completed", conclusion: "failure" });
    expect(run.output.annotations).toEqual([
      { path: ".github/kto.yml", start_line: 7, end_line: 7, annotation_level: "failure", title: "suites[0].timeout", message: "expected a duration like 20m" },
    ]);
    await untilSettled({ app, github });
    expect(checkRuns()).toHaveLength(1);
    expect(await app.store.jobs.countsByState()).toMatchObject({ queued: 0, dispatched: 0 });
    expect(github.rejected).toEqual([]);
  });

  it("deployed for an organisation's runners only (no Administration permission), dispatches to them and never asks for a repository's runners", async () => {
    const { administration: _, ...organizationOnly } = github.state.appPermissions;
    github.state.appPermissions = organizationOnly;
    github.state.runners.set("org:Codertocat", [selfHostedRunner(70, "org-rack", ["x86_64"])]);
    const opened = example("pull_request", "opened") as { repository: { private: boolean } };
    opened.repository.private = true;
    expect(await deliver("pull_request", opened)).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "a dispatch to the organisation's runner");
    expect(JSON.parse(sent.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-org-rack"]);
    await untilSettled({ app, github });
    const asked = github.requests.map((r) => r.operationId);
    expect(asked).toContain("actions/list-self-hosted-runners-for-org");
    expect(asked).not.toContain("actions/list-self-hosted-runners-for-repo");
    expect(github.rejected).toEqual([]);
  });

  it("lists a repository again when a workflow_job names a self-hosted runner kto does not know, and takes that runner in", async () => {
    expect(await deliver("pull_request", example("pull_request", "opened"))).toBe(200);
    await until(async () => github.state.dispatches[0], "a dispatch to rack-1");
    const listings = () => github.requests.filter((r) => r.operationId === "actions/list-self-hosted-runners-for-repo").length;
    const before = listings();
    // Someone registers a runner for the repository outside kto, and a job of theirs starts on it.
    github.state.runners.get(REPO)!.push({
      id: 9,
      name: "lab-board",
      os: "linux",
      status: "online",
      busy: false,
      labels: ["self-hosted", "linux", "arm64", "kto-runner-lab-board"].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
    });
    const started = example("workflow_job", "in_progress", 0) as {
      workflow_job: Record<string, unknown>;
      repository: Record<string, unknown>;
      installation?: unknown;
    };
    started.workflow_job = { ...started.workflow_job, labels: ["self-hosted", "arm64"], runner_id: 9, runner_name: "lab-board" };
    started.repository = (example("pull_request", "opened") as { repository: Record<string, unknown> }).repository;
    started.installation = { id: 1 };
    expect(await deliver("workflow_job", started)).toBe(200);
    // Listed, the repository shows the runner, which takes the arm64 job waiting for it.
    const second = await until(async () => github.state.dispatches[1], "a dispatch to the runner the listing found");
    expect(JSON.parse(second.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-lab-board"]);
    expect(listings()).toBe(before + 1);
    expect(github.rejected).toEqual([]);
  });

  it("uses the organisation's runners too, and ends a repository's jobs when kto is uninstalled from it", async () => {
    github.state.runners.set(REPO, []);
    github.state.runners.set("org:Codertocat", [selfHostedRunner(70, "org-rack", ["x86_64"])]);
    // The runner is in the organisation's Default group, which keeps public repositories out: the repository is private.
    const opened = example("pull_request", "opened") as { installation: { id: number }; repository: { private: boolean } };
    opened.repository.private = true;
    expect(await deliver("pull_request", opened)).toBe(200);
    const sent = await until(async () => github.state.dispatches[0], "a dispatch to the organisation's runner");
    expect(JSON.parse(sent.inputs.runs_on!)).toEqual(["self-hosted", "kto-runner-org-rack"]);
    const removed = example("installation_repositories", "removed", 0) as { repositories_removed: { full_name: string }[]; installation: { id: number } };
    removed.repositories_removed = [{ ...removed.repositories_removed[0]!, full_name: REPO }];
    expect(await deliver("installation_repositories", removed)).toBe(200);
    await until(async () => (await app.store.jobs.countsByState()).cancelled === 2, "both jobs cancelled");
    await until(async () => github.state.cancelled.length === 1, "the run cancelled");
    expect(github.state.cancelled).toEqual([sent.runId]);
    expect(github.rejected).toEqual([]);
  });
});
