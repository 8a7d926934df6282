import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { BuildHandoff } from "../../src/config/job-spec.js";
import type { JobReport } from "../../src/runners/report/run-report.js";
import {
  actionsRunnerEnv,
  startAppDouble,
  startAzurite,
  startResultsService,
  startTokenEndpoint,
  type ResultsServiceDouble,
} from "../helpers/actions-runtime.js";
import { startGitHubApiDouble } from "../helpers/github-api-double.js";
import { rawZip, startBlobServer } from "../helpers/blob-server.js";
import { startLegacyArtifactService } from "../helpers/legacy-artifacts.js";
import { until } from "../helpers/until.js";
import { fakeKernelTree } from "../helpers/fake-kernel-tree.js";
import { buildJob, HOST_KERNEL, qemuJob } from "../helpers/job.js";

const DIST = join(fileURLToPath(new URL("../..", import.meta.url)), "dist", "index.js");

function runAction(env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DIST], { env, cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout });
    });
  });
}

const BUILD = buildJob({ id: "x86_64-kunit", slug: "x86_64-kunit" });

describe("the bundled action runs a build, and the jobs that boot it", () => {
  let azurite: Awaited<ReturnType<typeof startAzurite>>;
  let results: ResultsServiceDouble;
  let scratch: string;
  let app: Awaited<ReturnType<typeof startAppDouble>>;
  let tokens: Awaited<ReturnType<typeof startTokenEndpoint>>;
  /** What the App would hand on from the build's finished report. */
  let handoff: BuildHandoff;

  /** A runner host: its own runner dir, its store of builds, the shared ccache; GitHub's runtime for artifacts. */
  const host = async (name: string, workspace: string, inputs: Record<string, string>, extra: Record<string, string> = {}) => {
    const dir = join(scratch, name);
    const env = await actionsRunnerEnv({
      dir,
      workspace,
      inputs: { "app-url": app.url, ...inputs },
      extra: {
        ACTIONS_RUNTIME_TOKEN: results.runtimeToken,
        ACTIONS_RESULTS_URL: `${results.url}/`,
        ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
        KTO_BUILD_STORE: join(scratch, `${name.split("-")[0]}-store`),
        KTO_CCACHE_DIR: join(scratch, "ccache"),
        ...extra,
      },
    });
    return { dir, env };
  };

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "kto-action-build-"));
    azurite = await startAzurite(join(scratch, "azurite"));
    results = await startResultsService(azurite.url);
    app = await startAppDouble();
    tokens = await startTokenEndpoint();
  });
  afterAll(async () => {
    await tokens?.close();
    await app?.close();
    await results?.close();
    await azurite?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("annotates a compile error at its line, and uploads a good build's outputs as kto-build-<slug> with their digests in its report", async () => {
    const broken = await fakeKernelTree(join(scratch, "broken-tree"), { broken: true });
    const failed = await host("a-broken", broken, { job: JSON.stringify({ id: "plan-1/x86_64-kunit", attempt: 1, spec: BUILD }) });
    const { code: failedCode, stdout: failedLog } = await runAction(failed.env, broken);
    expect(failedCode).toBe(1);
    expect(failedLog).toContain("::error title=x86_64-kunit%3A compiler error,file=init/main.c,line=12,col=5::expected ';' before 'return'");
    expect(results.artifacts.map((a) => a.name)).not.toContain("kto-build-x86_64-kunit");
    expect(await readFile(join(failed.dir, "summary"), "utf8")).toContain(
      "1 error, 0 warnings; ccache: nothing compiled through it.\n\n- `init/main.c:12:5: expected ';' before 'return'`",
    );

    const tree = await fakeKernelTree(join(scratch, "tree"), { kernel: HOST_KERNEL });
    const built = await host("a-build", tree, { job: JSON.stringify({ id: "plan-1/x86_64-kunit", attempt: 2, spec: BUILD }) });
    const { code, stdout } = await runAction(built.env, tree);
    expect(stdout).not.toContain("::warning::");
    expect(code).toBe(0);

    const artifact = results.artifacts.find((a) => a.name === "kto-build-x86_64-kunit")!;
    const zip = await results.download(artifact.name);
    for (const name of ["bzImage", "vmlinux", "System.map", "config", "build.log", "manifest.json"]) expect(zip.includes(Buffer.from(name))).toBe(true);
    // The results artifact keeps the build's log and manifest, not make's output dir or the outputs its own artifact carries.
    const resultsZip = await results.download("kto-x86_64-kunit-attempt-2");
    expect(resultsZip.includes(Buffer.from("jobs/x86_64-kunit/build/build.log"))).toBe(true);
    expect(resultsZip.includes(Buffer.from("jobs/x86_64-kunit/build/obj/"))).toBe(false);
    expect(resultsZip.includes(Buffer.from("jobs/x86_64-kunit/build/bzImage"))).toBe(false);

    const finished = app.events.filter((e) => e.body.kind === "finished").at(-1)!.body as { status: string; result: JobReport };
    expect(finished).toMatchObject({
      status: "succeeded",
      result: { runner: "build", build: { counts: { errors: 0 }, artifact: { name: "kto-build-x86_64-kunit" } } },
    });
    const files = finished.result.build!.files;
    expect(files.map((f) => f.path)).toEqual(["config", "bzImage", "vmlinux", "System.map", "build.log"]);
    // This host keeps each output under its digest, for jobs that run here.
    expect((await readdir(join(scratch, "a-store"))).sort()).toEqual(files.map((f) => f.sha256).sort());
    handoff = { jobId: "plan-1/x86_64-kunit", runId: "41", artifact: "kto-build-x86_64-kunit", files };
  }, 120_000);

  const booting = JSON.stringify({
    id: "plan-1/kunit",
    attempt: 1,
    spec: qemuJob({ id: "kunit", slug: "kunit", kernel: "bzImage", build: "x86_64-kunit", command: undefined, timeoutMs: 120_000 }),
  });

  it("boots the build on the host that made it from the host's copy, without downloading", async () => {
    const workspace = await mkdtemp(join(scratch, "checkout-"));
    const same = await host("a-boot", workspace, { job: JSON.stringify({ ...JSON.parse(booting), build: handoff }) });
    const { stdout } = await runAction(same.env, workspace);
    expect(stdout).toContain("kto: using this host's copy of build plan-1/x86_64-kunit");
    expect(await readFile(join(same.dir, "temp", "kto-kunit-1", "jobs", "kunit", "console.log"), "utf8")).toMatch(/VFS: Unable to mount root fs/);
  }, 120_000);

  it("on GitHub Enterprise Server, uploads the build through GHES's artifact service, and another host downloads it through the REST API once the build's run has ended", async () => {
    const github = await startGitHubApiDouble();
    github.state.tokens.set("ghs_reader", { actions: "read" });
    const legacy = await startLegacyArtifactService({ runId: "51", repo: "o/r", listed: github.state.artifacts });
    const ghes = {
      GITHUB_SERVER_URL: "https://ghes.example.com",
      GITHUB_API_URL: `${github.url}/api/v3`,
      ACTIONS_RUNTIME_URL: legacy.url,
      ACTIONS_RUNTIME_TOKEN: legacy.runtimeToken,
      KTO_ARTIFACT_POLL_MS: "100",
    };
    try {
      const tree = await fakeKernelTree(join(scratch, "ghes-tree"), { kernel: HOST_KERNEL });
      const built = await host(
        "g-build",
        tree,
        { job: JSON.stringify({ id: "plan-2/x86_64-kunit", attempt: 1, spec: BUILD }) },
        { ...ghes, GITHUB_RUN_ID: "51" },
      );
      const { code, stdout } = await runAction(built.env, tree);
      expect(stdout).not.toContain("::warning::");
      expect(code).toBe(0);
      expect(legacy.refused).toEqual([]);
      expect([...legacy.artifacts.get("kto-build-x86_64-kunit")!.keys()].sort()).toEqual([
        "System.map",
        "build.log",
        "bzImage",
        "config",
        "manifest.json",
        "vmlinux",
      ]);
      const finished = app.events.filter((e) => e.body.kind === "finished").at(-1)!.body as { result: JobReport };
      expect(finished.result.build!.artifact).toEqual({ name: "kto-build-x86_64-kunit", id: null, url: "https://ghes.example.com/o/r/actions/runs/51" });
      const ghesHandoff = { jobId: "plan-2/x86_64-kunit", runId: "51", artifact: "kto-build-x86_64-kunit", files: finished.result.build!.files };

      // The build's job has reported, but its run has not ended: GHES lists none of its artifacts yet.
      github.state.runs.set(51, "in_progress");
      const workspace = await mkdtemp(join(scratch, "checkout-"));
      const other = await host(
        "h-boot",
        workspace,
        { job: JSON.stringify({ ...JSON.parse(booting), build: ghesHandoff }), "github-token": "ghs_reader" },
        ghes,
      );
      const booted = runAction(other.env, workspace);
      // It ends once the job has seen it running.
      await until(async () => github.requests.some((r) => r.operationId === "actions/get-workflow-run"), "the job looking at the build's run");
      legacy.endRun();
      github.state.runs.set(51, "completed");
      const boot = await booted;
      expect(github.rejected).toEqual([]);
      expect(boot.stdout).toContain("kto: downloaded build plan-2/x86_64-kunit from run 51");
      const asked = github.requests.map((r) => r.operationId);
      expect(asked.filter((op) => op === "actions/get-workflow-run").length).toBeGreaterThan(1);
      expect(asked.filter((op) => op !== "actions/get-workflow-run")).toEqual(["actions/list-workflow-run-artifacts", "actions/download-artifact"]);
      expect(await readFile(join(other.dir, "temp", "kto-kunit-1", "jobs", "kunit", "console.log"), "utf8")).toMatch(/VFS: Unable to mount root fs/);

      // A zip whose entry leads out of the download folder (an absolute path), or is no output of the build, writes nothing; the job is retried elsewhere.
      for (const [i, name] of [join(scratch, "i-boot", "escaped.txt"), "extra.sh"].entries()) {
        const evil = await startBlobServer(rawZip([{ name, data: Buffer.from("owned\n") }]));
        const runId = 60 + i;
        github.state.runs.set(runId, "completed");
        github.state.artifacts.push({ id: 100 + i, repo: "o/r", runId, name: "kto-build-x86_64-kunit", size: evil.size, zipUrl: evil.url });
        const refused = await host(
          "i-boot",
          workspace,
          { job: JSON.stringify({ ...JSON.parse(booting), attempt: 3 + i, build: { ...ghesHandoff, runId: String(runId) } }), "github-token": "ghs_reader" },
          ghes,
        );
        await runAction(refused.env, workspace);
        await evil.close();
        const ended = app.events.filter((e) => e.body.kind === "finished").at(-1)!.body;
        expect(ended).toMatchObject({ status: "errored", infrastructure: true });
        expect(ended.reason).toContain(
          `the artifact's entry ${JSON.stringify(name)} ${i === 0 ? "leads outside its folder" : "is not one of the build's outputs"}`,
        );
        expect(await readdir(join(scratch, "i-boot"))).not.toContain("escaped.txt");
      }
    } finally {
      await legacy.close();
      await github.close();
    }
  }, 180_000);

  it("on another host, downloads the build's artifact from its run with the workflow's token, and checks every digest", async () => {
    const github = await startGitHubApiDouble();
    github.state.tokens.set("ghs_reader", { actions: "read" });
    const artifact = results.artifacts.find((a) => a.name === "kto-build-x86_64-kunit")!;
    github.state.artifacts.push({ id: 7, repo: "o/r", runId: 41, name: artifact.name, size: artifact.size, zipUrl: results.readUrl(artifact.name) });
    try {
      const workspace = await mkdtemp(join(scratch, "checkout-"));
      const other = await host(
        "b-boot",
        workspace,
        { job: JSON.stringify({ ...JSON.parse(booting), build: handoff }), "github-token": "ghs_reader" },
        { GITHUB_API_URL: github.url },
      );
      const { stdout } = await runAction(other.env, workspace);
      expect(github.rejected).toEqual([]);
      expect(stdout).toContain("kto: downloaded build plan-1/x86_64-kunit from run 41");
      expect(await readFile(join(other.dir, "temp", "kto-kunit-1", "jobs", "kunit", "console.log"), "utf8")).toMatch(/VFS: Unable to mount root fs/);

      // A handoff whose digest the artifact does not match boots nothing, and is the host's fault (retried).
      const wrong = { ...handoff, files: handoff.files.map((f) => (f.path === "config" ? { ...f, sha256: "0".repeat(64) } : f)) };
      const damaged = await host(
        "c-boot",
        workspace,
        { job: JSON.stringify({ ...JSON.parse(booting), attempt: 2, build: wrong }), "github-token": "ghs_reader" },
        {
          GITHUB_API_URL: github.url,
        },
      );
      await runAction(damaged.env, workspace);
      const finished = app.events.filter((e) => e.body.kind === "finished").at(-1)!.body;
      expect(finished).toMatchObject({ status: "errored", outcome: "infrastructure", infrastructure: true });
      expect(finished.reason).toMatch(/^the build's config has sha256 [0-9a-f]{64}, the build made 0{64}$/);
    } finally {
      await github.close();
    }
  }, 180_000);
});
