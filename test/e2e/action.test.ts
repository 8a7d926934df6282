import { execFile, spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import { job, withTempDir } from "../helpers/job.js";
import {
  actionsRunnerEnv,
  startAppDouble,
  startAzurite,
  startResultsService,
  startTokenEndpoint,
  type ResultsServiceDouble,
} from "../helpers/actions-runtime.js";
import { startGitHubApiDouble } from "../helpers/github-api-double.js";
import { startLegacyArtifactService } from "../helpers/legacy-artifacts.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = join(ROOT, "dist", "index.js");
const POST = join(ROOT, "dist", "post.js");

/** Reads GITHUB_OUTPUT's `name<<delimiter` blocks. */
function parseOutputs(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<]+)<<(.+)$/.exec(lines[i]!);
    if (!match) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== match[2]; i++) value.push(lines[i]!);
    outputs[match[1]!] = value.join("\n");
  }
  return outputs;
}

interface RunnerFiles {
  dir: string;
  env: Record<string, string>;
}

/** The environment the Actions runner gives a JavaScript action. */
async function runnerEnv(dir: string, inputs: Record<string, string>, extra: Record<string, string> = {}): Promise<RunnerFiles> {
  return { dir, env: await actionsRunnerEnv({ dir, workspace: ROOT, inputs, extra }) };
}

function runAction(files: RunnerFiles, script = DIST, timeout = 0): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { env: files.env, cwd: ROOT, maxBuffer: 64 * 1024 * 1024, timeout }, (error, stdout) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

/** A secret is registered with the runner for masking, and printed nowhere else. */
function expectMasked(stdout: string, secret: string): void {
  const mentions = stdout.split("\n").filter((line) => line.includes(secret));
  expect(mentions.length).toBeGreaterThan(0);
  expect(mentions.filter((line) => !line.startsWith("::add-mask::"))).toEqual([]);
}

/** Starts the bundled action and sends it `signal` once its job is running; resolves when it has exited. */
async function interruptWhileRunning(files: RunnerFiles, signal: NodeJS.Signals): Promise<void> {
  const child = spawn(process.execPath, [DIST], { env: files.env, cwd: ROOT });
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  await new Promise<void>((resolve) => {
    const check = setInterval(() => stdout.includes("busybox-tap: running") && (clearInterval(check), resolve()), 50);
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill(signal);
  await exited;
}

const dispatched = (overrides: Parameters<typeof job>[0] = {}) =>
  JSON.stringify({
    id: "plan-1/busybox-tap",
    attempt: 2,
    spec: job({ id: "busybox-tap", command: "sh examples/tests/userspace.sh", results: "tap", artifacts: ["results/**"], ...overrides }),
  });

describe("the bundled action, run as the Actions runner runs it", () => {
  let azurite: Awaited<ReturnType<typeof startAzurite>>;
  let results: ResultsServiceDouble;
  let azuriteDir: string;

  beforeAll(async () => {
    azuriteDir = await mkdtemp(join(tmpdir(), "kto-azurite-"));
    azurite = await startAzurite(azuriteDir);
    results = await startResultsService(azurite.url);
  });
  afterAll(async () => {
    await results?.close();
    await azurite?.stop();
    await rm(azuriteDir, { recursive: true, force: true });
  });

  it("runs the App's job, uploads the results, writes the summary and annotations, and reports with its OIDC token", async () => {
    await withTempDir(async (dir) => {
      const tokens = await startTokenEndpoint();
      const app = await startAppDouble();
      try {
        const files = await runnerEnv(
          dir,
          { job: dispatched(), "app-url": app.url, "retention-days": "5" },
          {
            ACTIONS_RUNTIME_TOKEN: results.runtimeToken,
            ACTIONS_RESULTS_URL: `${results.url}/`,
            ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
          },
        );
        const { code, stdout } = await runAction(files);
        expect(stdout).not.toContain("::warning::");
        expect(code).toBe(1); // the example has a failing test on purpose
        const outputs = parseOutputs(await readFile(join(dir, "output"), "utf8"));
        expect(outputs).toMatchObject({ conclusion: "failed", "artifact-id": "1", "artifact-url": "https://github.com/o/r/actions/runs/42/artifacts/1" });
        expect(outputs["results-path"]).toBe(join(dir, "temp", "kto-busybox-tap-2"));

        expect(stdout).toContain("::group::kto: busybox-tap (docker)");
        expect(stdout).toContain("::error title=busybox-tap%3A arithmetic failed,file=examples/tests/userspace.sh,line=9::expected 4, got 3");
        expect(stdout).toContain("::error::kto: failed: busybox-tap failed");
        const summary = await readFile(join(dir, "summary"), "utf8");
        expect(summary).toContain("| busybox-tap | ❌ failed | 2/3 passed, 1 failed |");
        expect(summary).toContain("[Download the results](https://github.com/o/r/actions/runs/42/artifacts/1)");

        const artifact = results.artifacts.find((a) => a.name === "kto-busybox-tap-attempt-2")!;
        expect(artifact).toBeDefined();
        expect(new Date(artifact.expiresAt!).getTime()).toBeGreaterThan(Date.now() + 4 * 86_400_000);
        const zip = await results.download(artifact.name);
        expect(zip.length).toBe(artifact.size);
        for (const name of ["results.json", "summary.md", "junit.xml", "jobs/busybox-tap/stdout.log", "jobs/busybox-tap/results/uname.txt"]) {
          expect(zip.includes(Buffer.from(name))).toBe(true);
        }

        expect(app.events.map((e) => e.body.kind)).toEqual(["started", "finished"]);
        // A fresh token for each report: a token lives minutes, and a job can run for hours.
        expect(tokens.audiences).toEqual(app.events.map(() => new URL(app.url).origin));
        for (const [i, event] of app.events.entries()) {
          expect(event.path).toBe("/kto/api/jobs/plan-1%2Fbusybox-tap/events");
          expect(event.authorization).toBe(`Bearer ${tokens.issued[i]}`);
          expect(event.body.attempt).toBe(2);
        }
        expect(app.events[1]!.body).toMatchObject({
          status: "failed",
          outcome: "failed",
          infrastructure: false,
          result: { artifactId: 1, tests: { passed: 2, failed: 1 } },
        });
        for (const token of tokens.issued) expectMasked(stdout, token);
        const kept = JSON.parse(await readFile(join(outputs["results-path"]!, "kto-report.json"), "utf8"));
        expect(kept).toMatchObject({ jobId: "plan-1/busybox-tap", attempt: 2, kind: "finished", status: "failed" });
      } finally {
        await tokens.close();
        await app.close();
      }
    });
  });

  it("on GitHub Enterprise Server, uploads the results through the artifact service GHES has, and links them from the run", async () => {
    const legacy = await startLegacyArtifactService({ runId: "42", repo: "o/r" });
    try {
      await withTempDir(async (dir) => {
        const tokens = await startTokenEndpoint();
        const app = await startAppDouble();
        try {
          const files = await runnerEnv(
            dir,
            { job: dispatched(), "app-url": app.url, "retention-days": "5" },
            {
              GITHUB_SERVER_URL: "https://ghes.example.com",
              GITHUB_API_URL: "https://ghes.example.com/api/v3",
              ACTIONS_RUNTIME_URL: legacy.url,
              ACTIONS_RUNTIME_TOKEN: legacy.runtimeToken,
              ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
              ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
            },
          );
          const { code, stdout } = await runAction(files);
          expect(stdout).not.toContain("::warning::");
          expect(code).toBe(1);
          expect(legacy.refused).toEqual([]);
          const outputs = parseOutputs(await readFile(join(dir, "output"), "utf8"));
          expect(outputs).toMatchObject({ conclusion: "failed", "artifact-id": "", "artifact-url": "https://ghes.example.com/o/r/actions/runs/42" });
          const uploaded = legacy.artifacts.get("kto-busybox-tap-attempt-2")!;
          expect([...uploaded.keys()]).toEqual(
            expect.arrayContaining(["results.json", "summary.md", "junit.xml", "jobs/busybox-tap/stdout.log", "jobs/busybox-tap/results/uname.txt"]),
          );
          expect(JSON.parse(uploaded.get("results.json")!.toString())).toMatchObject({ jobs: [expect.objectContaining({ status: "failed" })] });
          expect(await readFile(join(dir, "summary"), "utf8")).toContain("[Download the results](https://ghes.example.com/o/r/actions/runs/42)");
          expect(app.events[1]!.body).toMatchObject({
            status: "failed",
            result: { artifactId: null, artifactUrl: "https://ghes.example.com/o/r/actions/runs/42" },
          });
        } finally {
          await tokens.close();
          await app.close();
        }
      });
    } finally {
      await legacy.close();
    }
  });

  it("keeps the job's result when the artifact service and the App cannot be reached", async () => {
    await withTempDir(async (dir) => {
      const tokens = await startTokenEndpoint();
      try {
        const files = await runnerEnv(
          dir,
          { job: dispatched({ command: "echo TAP version 13; echo 1..1; echo ok 1 - fine" }), "app-url": "http://127.0.0.1:9/" },
          {
            ACTIONS_RUNTIME_TOKEN: results.runtimeToken,
            ACTIONS_RESULTS_URL: "http://127.0.0.1:9/",
            ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
          },
        );
        files.env.KTO_REPORT_BASE_DELAY_MS = "10";
        const { code, stdout } = await runAction(files);
        expect(code).toBe(0);
        const outputs = parseOutputs(await readFile(join(dir, "output"), "utf8"));
        expect(outputs.conclusion).toBe("succeeded");
        expect(outputs["artifact-id"]).toBeUndefined();
        expect(stdout).toMatch(/::warning::could not upload the results as an artifact .*; they stay in /);
        expect(stdout).toMatch(/::warning::kto App unreachable for the finished report .*; the report is kept in /);
        const kept = JSON.parse(await readFile(join(outputs["results-path"]!, "kto-report.json"), "utf8"));
        expect(kept).toMatchObject({ kind: "finished", status: "succeeded" });
      } finally {
        await tokens.close();
      }
    });
  });

  it("runs suites from the config on its own, and says there is no check run without a token", async () => {
    await withTempDir(async (dir) => {
      const files = await runnerEnv(dir, { config: "examples/kto.yml", suite: "busybox-tap" });
      const { code, stdout } = await runAction(files);
      expect(code).toBe(1);
      expect(stdout).toContain("::notice::kto: no github-token given, so no check run was created");
      expect(parseOutputs(await readFile(join(dir, "output"), "utf8")).conclusion).toBe("failed");
    });
  });

  it("exits once its work is done, even when something it loaded leaves a handle open", async () => {
    await withTempDir(async (dir) => {
      const leak = join(dir, "leak.mjs");
      await writeFile(leak, "setInterval(() => undefined, 1000);\n");
      const files = await runnerEnv(dir, { config: "examples/kto.yml", suite: "busybox-tap" }, { NODE_OPTIONS: `--import=${leak}`, KTO_EXIT_GRACE_MS: "300" });
      const { code, stdout } = await runAction(files, DIST, 60_000);
      expect(code).toBe(1); // the suite's own failure, kept through the exit
      expect(stdout).toMatch(/::warning::kto: the job is done but .* still held the action open after 300 ms; exiting/);
    });
  });

  it("creates its own check run with the workflow's token, as GitHub's API accepts it", async () => {
    await withTempDir(async (dir) => {
      const github = await startGitHubApiDouble();
      // The workflow's GITHUB_TOKEN, with the permission its `permissions: checks: write` grants.
      github.state.tokens.set("ghs_secret123", { checks: "write" });
      try {
        const files = await runnerEnv(
          dir,
          { config: "examples/kto.yml", suite: "busybox-tap", "github-token": "ghs_secret123" },
          { GITHUB_API_URL: github.url, GITHUB_EVENT_NAME: "pull_request" },
        );
        const headSha = "feedfacefeedfacefeedfacefeedfacefeedface";
        await writeFile(join(dir, "event.json"), JSON.stringify({ pull_request: { number: 7, head: { sha: headSha } } }));
        const { code, stdout } = await runAction(files);
        expect(code).toBe(1);
        expect(github.rejected).toEqual([]);
        expect(stdout).toContain('check run "kto / busybox-tap" created');
        const [run] = [...github.state.checkRuns.values()] as { output: { title: string; annotations: unknown[] } }[];
        expect(run).toMatchObject({
          name: "kto / busybox-tap",
          head_sha: headSha,
          status: "completed",
          conclusion: "failure",
          details_url: "https://github.com/o/r/actions/runs/42",
        });
        expect(run!.output.title).toBe("2 passed, 1 failed, 0 errored, 0 skipped");
        expect(run!.output.annotations).toEqual([
          {
            path: "examples/tests/userspace.sh",
            start_line: 9,
            end_line: 9,
            annotation_level: "failure",
            title: "busybox-tap: arithmetic",
            message: "expected 4, got 3",
          },
        ]);
        expectMasked(stdout, "ghs_secret123");
      } finally {
        await github.close();
      }
    });
  });

  it("fails the step naming the input when the job is malformed", async () => {
    await withTempDir(async (dir) => {
      const files = await runnerEnv(dir, { job: JSON.stringify({ id: "x", attempt: 0, spec: {} }) });
      const { code, stdout } = await runAction(files);
      expect(code).toBe(1);
      expect(stdout).toMatch(/::error::input "job": attempt: Number must be greater than or equal to 1/);
    });
  });

  it("stops the container on cancellation, and the post step removes what a killed job left", async () => {
    await withTempDir(async (dir) => {
      await chmod(dir, 0o755);
      const docker = new Docker();
      const cancelled = await runnerEnv(join(dir, "a"), { job: dispatched({ command: "echo going; sleep 300" }) });
      await interruptWhileRunning(cancelled, "SIGTERM");
      expect(parseOutputs(await readFile(join(dir, "a", "output"), "utf8")).conclusion).toBe("cancelled");
      const state = await readFile(join(dir, "a", "state"), "utf8");
      const owner = parseOutputs(state)["kto-owner"]!;
      expect(await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } })).toHaveLength(0);

      const killed = await runnerEnv(join(dir, "b"), { job: dispatched({ command: "echo going; sleep 300" }) });
      await interruptWhileRunning(killed, "SIGKILL");
      const victimOwner = parseOutputs(await readFile(join(dir, "b", "state"), "utf8"))["kto-owner"]!;
      expect(await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${victimOwner}`] } })).toHaveLength(1);
      const post = await runAction({ dir: join(dir, "b"), env: { ...killed.env, "STATE_kto-owner": victimOwner } }, POST);
      expect(post.stdout).toContain("kto: removed 1 leftovers of the job");
      expect(await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${victimOwner}`] } })).toHaveLength(0);
    });
  });
});
