import { describe, expect, it } from "@jest/globals";
import { checkRequest, GHES_VERSIONS, startGitHubApiDouble } from "../helpers/github-api-double.js";
import { installationOctokits } from "../helpers/installation-octokits.js";
import { refusal } from "../helpers/github-double/permissions.js";
import { MAX_TIMEOUT_MS, runTimeoutMinutes as runTimeoutMinutesOf } from "../../src/config/limits.js";
import { expandDispatch, inputsRefusal, SHIPPED_RUNNER_WORKFLOW } from "../helpers/github-double/workflow-inputs.js";

const auth = { authorization: "token t" };
const checkRun = (output: Record<string, unknown>) =>
  JSON.stringify({ name: "kto / unit", head_sha: "a".repeat(40), output: { title: "t", summary: "s", ...output } });
const annotation = (fields: Record<string, unknown> = {}) => ({
  path: "a.c",
  start_line: 1,
  end_line: 1,
  annotation_level: "failure",
  message: "m",
  ...fields,
});

describe("the GitHub API double's contract check (GitHub's OpenAPI description)", () => {
  it("accepts a well-formed check run and names its operation and parameters", () => {
    const checked = checkRequest(
      "POST",
      "/repos/o/r/check-runs",
      auth,
      JSON.stringify({ name: "kto / unit", head_sha: "a".repeat(40), status: "completed", conclusion: "success" }),
    );
    expect(checked).toMatchObject({ operationId: "checks/create", params: { owner: "o", repo: "r" }, server: { kind: "github.com" } });
  });

  it("rejects what GitHub would reject", () => {
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, JSON.stringify({ head_sha: "abc" }))).toThrow(
      /^422: checks\/create: .*must have required property 'name'/,
    );
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, JSON.stringify({ name: "x", head_sha: "a", conclusion: "great" }))).toThrow(
      /^422: .*conclusion must be equal to one of the allowed values/,
    );
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", {}, "{}")).toThrow(/^401/);
    expect(() => checkRequest("POST", "/repos/o/r/no-such-thing", auth, "{}")).toThrow(/^404/);
  });

  it("checks path and query parameters against their types and enums", () => {
    expect(checkRequest("PATCH", "/repos/o/r/check-runs/12", auth, JSON.stringify({ status: "in_progress" })).params).toEqual({
      owner: "o",
      repo: "r",
      check_run_id: "12",
    });
    expect(() => checkRequest("PATCH", "/repos/o/r/check-runs/twelve", auth, JSON.stringify({ status: "in_progress" }))).toThrow(
      /^404: checks\/update: check_run_id must be integer/,
    );
    expect(() => checkRequest("GET", "/repos/o/r/actions/workflows/kto-runner.yml/runs?per_page=many", auth, "")).toThrow(
      /^422: actions\/list-workflow-runs: \?per_page must be integer/,
    );
    expect(() => checkRequest("GET", "/repos/o/r/actions/workflows/kto-runner.yml/runs?status=finished", auth, "")).toThrow(
      /^422: .*\?status must be equal to one of the allowed values/,
    );
    expect(checkRequest("GET", "/repos/o/r/actions/workflows/kto-runner.yml/runs?per_page=50&event=workflow_dispatch", auth, "").operationId).toBe(
      "actions/list-workflow-runs",
    );
    // A file's path spans segments.
    expect(checkRequest("GET", "/repos/o/r/contents/.github/workflows/kto-runner.yml?ref=main", auth, "").params.path).toBe(".github/workflows/kto-runner.yml");
  });

  it("refuses a body key its schema does not name, in GitHub's words", () => {
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, JSON.stringify({ name: "x", head_sha: "a", colour: "red" }))).toThrow(
      '422: "colour" is not a permitted key.',
    );
  });

  it("holds check runs, runners and dispatches to the limits GitHub states only in prose", () => {
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, checkRun({ summary: "x".repeat(65_536) }))).toThrow(/^422: .*summary/);
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, checkRun({ text: "x".repeat(65_536) }))).toThrow(/^422: .*text/);
    // Counted in bytes: 22,000 three-byte characters are 66,000 bytes.
    expect(() => checkRequest("PATCH", "/repos/o/r/check-runs/1", auth, checkRun({ summary: "€".repeat(22_000) }))).toThrow(
      "/output/summary is 66000 bytes; exceeds a maximum bytesize of 65535",
    );
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, checkRun({ annotations: Array.from({ length: 51 }, () => annotation()) }))).toThrow(
      /^422: .*annotations must NOT have more than 50 items/,
    );
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, checkRun({ annotations: [annotation({ title: "t".repeat(256) })] }))).toThrow(
      "/output/annotations/0/title is 256 characters; at most 255",
    );
    // Characters as GitHub counts them: an emoji is one (two UTF-16 code units).
    expect(() => checkRequest("POST", "/repos/o/r/check-runs", auth, checkRun({ annotations: [annotation({ title: "🙂".repeat(256) })] }))).toThrow(
      "/output/annotations/0/title is 256 characters; at most 255",
    );
    expect(checkRequest("POST", "/repos/o/r/check-runs", auth, checkRun({ annotations: [annotation({ title: "🙂".repeat(255) })] })).operationId).toBe(
      "checks/create",
    );
    // ✅, ❌ and › are one character and three bytes each: fewer than 65,535 characters, more than 65,535 bytes.
    const marks = "✅ passed › ❌ failed › ".repeat(3_000).slice(0, 65_534);
    expect(() => checkRequest("PATCH", "/repos/o/r/check-runs/1", auth, checkRun({ summary: marks }))).toThrow(/exceeds a maximum bytesize of 65535/);
    // 64 KB in bytes: 22,000 three-byte characters are 66,000 bytes.
    expect(() => checkRequest("PATCH", "/repos/o/r/check-runs/1", auth, checkRun({ annotations: [annotation({ message: "€".repeat(22_000) })] }))).toThrow(
      "/output/annotations/0/message is 66000 bytes; at most 64 KB",
    );
    expect(
      checkRequest(
        "POST",
        "/repos/o/r/check-runs",
        auth,
        checkRun({ summary: "x".repeat(65_535), annotations: [annotation({ title: "t".repeat(255), message: "m".repeat(65_536) })] }),
      ).operationId,
    ).toBe("checks/create");

    const runner = (name: string) => JSON.stringify({ name, runner_group_id: 1, labels: ["kto-runner-x"] });
    expect(() => checkRequest("POST", "/repos/o/r/actions/runners/generate-jitconfig", auth, runner("r".repeat(65)))).toThrow(
      "/name is 65 characters; a runner name is at most 64",
    );
    expect(checkRequest("POST", "/orgs/o/actions/runners/generate-jitconfig", auth, runner("r".repeat(64))).operationId).toBe(
      "actions/generate-runner-jitconfig-for-org",
    );

    const dispatch = (inputs: Record<string, string>) => JSON.stringify({ ref: "main", inputs });
    expect(() => checkRequest("POST", "/repos/o/r/actions/workflows/w.yml/dispatches", auth, dispatch({ job: "j".repeat(65_530) }))).toThrow(
      /^422: .*inputs are 65540 characters as JSON/,
    );
    expect(() =>
      checkRequest(
        "POST",
        "/repos/o/r/actions/workflows/w.yml/dispatches",
        auth,
        dispatch(Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`i${i}`, "v"]))),
      ),
    ).toThrow(/inputs must NOT have more than 25 properties/);
  });

  it("checks /api/v3 against the GitHub Enterprise Server description of the version under test", () => {
    expect(GHES_VERSIONS.length).toBeGreaterThan(0);
    const body = JSON.stringify({ ref: "main", inputs: { job: "{}" }, return_run_details: true });
    expect(checkRequest("POST", "/repos/o/r/actions/workflows/w.yml/dispatches", auth, body).operationId).toBe("actions/create-workflow-dispatch");
    for (const version of GHES_VERSIONS) {
      expect(() => checkRequest("POST", "/api/v3/repos/o/r/actions/workflows/w.yml/dispatches", auth, body, version)).toThrow(
        '422: "return_run_details" is not a permitted key.',
      );
      const ten = JSON.stringify({ ref: "main", inputs: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`i${i}`, "v"])) });
      expect(() => checkRequest("POST", "/api/v3/repos/o/r/actions/workflows/w.yml/dispatches", auth, ten, version)).toThrow(
        /inputs must NOT have more than 10 properties/,
      );
      expect(checkRequest("GET", "/api/v3/repos/o/r", auth, "", version).server).toEqual({ kind: "ghes", version });
    }
  });
});

describe("the GitHub API double's permission check", () => {
  const installation = (permissions: Record<string, "read" | "write">) => ({ kind: "installation" as const, permissions });

  it("refuses an operation whose permission the token lacks or has only at read level", () => {
    expect(refusal("checks/create", installation({ checks: "write" }))).toBeNull();
    expect(refusal("checks/create", installation({ checks: "read" }))).toEqual({ status: 403, message: "Resource not accessible by integration" });
    expect(refusal("checks/create", installation({}))).toEqual({ status: 403, message: "Resource not accessible by integration" });
    expect(refusal("repos/get-content", installation({ contents: "write" }))).toBeNull();
  });

  it("lets the App's JWT call only the App's own endpoints, and names an operation it has no entry for", () => {
    expect(refusal("apps/get-repo-installation", { kind: "app" })).toBeNull();
    expect(refusal("apps/get-repo-installation", installation({ administration: "write" }))?.status).toBe(403);
    expect(refusal("checks/create", { kind: "app" })?.status).toBe(403);
    expect(refusal("repos/delete", installation({ administration: "write" }))).toEqual({
      status: 501,
      message: "the double has no required permission for repos/delete: add GitHub's to REQUIRED",
    });
  });
});

describe("the GitHub API double's workflow inputs check", () => {
  const inputs = { run_name: "kto p/unit attempt 1", jobs: "[]", sha: "a".repeat(40), app_url: "https://kto.example.com" };

  it("takes the inputs the runner workflow declares, and refuses others as GitHub does", () => {
    expect(inputsRefusal(SHIPPED_RUNNER_WORKFLOW, inputs)).toBeNull();
    expect(inputsRefusal(SHIPPED_RUNNER_WORKFLOW, { ...inputs, debug: "1" })).toBe('Unexpected inputs provided: ["debug"]');
    expect(inputsRefusal(SHIPPED_RUNNER_WORKFLOW, { run_name: "r", jobs: "[]", app_url: "x" })).toBe("Required input 'sha' not provided");
    expect(inputsRefusal("on: push\njobs: {}\n", inputs)).toBe("Workflow does not have 'workflow_dispatch' trigger");
  });
});

describe("the runner workflow's run, as GitHub makes it from a dispatch", () => {
  const entry = (id: string, runner: string, job: Record<string, unknown> = {}) => ({
    name: id,
    job: { id, attempt: 1, timeoutMinutes: 31, ...job },
    runs_on: ["self-hosted", `kto-runner-${runner}`],
  });
  const inputs = (entries: unknown[]) => ({ run_name: "kto p/a attempt 1", jobs: JSON.stringify(entries), sha: "a".repeat(40), app_url: "https://kto" });

  it("makes one job per matrix entry, each on its own runner, with the job as the action receives it and the run's name", () => {
    const run = expandDispatch(SHIPPED_RUNNER_WORKFLOW, inputs([entry("p/a", "rack-1"), entry("p/b", "rack-2")]));
    if ("refusal" in run) throw new Error(run.refusal);
    expect(run.runName).toBe("kto p/a attempt 1");
    expect(run.jobs.map((j) => [j.name, j.runsOn, j.timeoutMinutes])).toEqual([
      ["p/a", ["self-hosted", "kto-runner-rack-1"], 31],
      ["p/b", ["self-hosted", "kto-runner-rack-2"], 31],
    ]);
    // toJSON indents, as GitHub's does: the action must parse it, not compare it.
    expect(run.jobs[1]!.inputs.job).toContain("\n");
    expect(JSON.parse(run.jobs[1]!.inputs.job!)).toEqual(entry("p/b", "rack-2").job);
    expect(run.jobs[0]!.inputs).toMatchObject({ sha: "a".repeat(40), app_url: "https://kto", runs_on: '["self-hosted","kto-runner-rack-1"]' });
  });

  it("takes each job's timeout-minutes from its entry, covering the job's own timeout and capped at 5 days", () => {
    const minutes = runTimeoutMinutesOf(7 * 3_600_000);
    const run = expandDispatch(
      SHIPPED_RUNNER_WORKFLOW,
      inputs([entry("p/a", "r", { timeoutMinutes: minutes }), entry("p/b", "s", { timeoutMinutes: 10 * 24 * 60 })]),
    );
    expect("jobs" in run && run.jobs.map((j) => j.timeoutMinutes)).toEqual([7 * 60 + 30, 5 * 24 * 60]);
    expect(runTimeoutMinutesOf(MAX_TIMEOUT_MS)).toBe(5 * 24 * 60);
    expect(runTimeoutMinutesOf(1_000)).toBe(31);
  });

  it("refuses a run GitHub would fail at once: no timeout, an empty or oversized matrix, jobs that are not JSON, an expression the double does not know", () => {
    expect(expandDispatch(SHIPPED_RUNNER_WORKFLOW, inputs([entry("p/a", "r", { timeoutMinutes: undefined })]))).toEqual({
      refusal: "The template is not valid: timeout-minutes evaluates to undefined",
    });
    expect(expandDispatch(SHIPPED_RUNNER_WORKFLOW, inputs([]))).toMatchObject({ refusal: expect.stringContaining("does not contain any values") });
    const many = Array.from({ length: 257 }, (_, i) => entry(`p/${i}`, `r${i}`));
    expect(expandDispatch(SHIPPED_RUNNER_WORKFLOW, inputs(many))).toMatchObject({ refusal: expect.stringContaining("more than 256 jobs") });
    expect(expandDispatch(SHIPPED_RUNNER_WORKFLOW, { ...inputs([]), jobs: "{not json" })).toMatchObject({ refusal: expect.stringContaining("is not JSON") });
    const other = SHIPPED_RUNNER_WORKFLOW.replace(/timeout-minutes: .*/, "timeout-minutes: ${{ fromJSON(inputs.jobs)[0].job.timeoutMinutes }}");
    expect(expandDispatch(other, inputs([entry("p/a", "r")]))).toMatchObject({ refusal: expect.stringContaining("cannot evaluate") });
  });
});

describe("the GitHub API double's check runs", () => {
  it("keeps a completed check run's status and conclusion as they are, as GitHub does, and takes a new output", async () => {
    const github = await startGitHubApiDouble();
    try {
      const octokit = await installationOctokits(github)(1);
      const where = { owner: "Codertocat", repo: "Hello-World" };
      const { data } = await octokit.rest.checks.create({
        ...where,
        name: "kto / approval",
        head_sha: "a".repeat(40),
        status: "completed",
        conclusion: "action_required",
        output: { title: "Waiting", summary: "s" },
      });
      const update = (fields: Record<string, unknown>) =>
        octokit.rest.checks.update({ ...where, check_run_id: data.id, ...fields }).then(
          (answer) => answer.status,
          (error: { status: number }) => error.status,
        );
      expect(await update({ conclusion: "success" })).toBe(422);
      expect(await update({ status: "completed", conclusion: "cancelled" })).toBe(422);
      expect(await update({ status: "in_progress" })).toBe(422);
      expect(await update({ output: { title: "Still waiting", summary: "s" } })).toBe(200);
      expect(await update({ conclusion: "action_required", output: { title: "Waiting", summary: "s" } })).toBe(200);
      expect(github.state.checkRuns.get(data.id)).toMatchObject({ status: "completed", conclusion: "action_required" });
      expect(github.rejected).toHaveLength(3);
    } finally {
      await github.close();
    }
  });
});
