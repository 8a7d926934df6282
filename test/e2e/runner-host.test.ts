import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { execa } from "execa";
import type { RunningApp } from "../../src/app/server.js";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import { labelsForHost, readHostFacts } from "../../src/runners/host-labels.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { startTestApp, type TestApp } from "../helpers/test-app.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const REPO = "octo-org/kernel";
const SECRET = "s".repeat(40);

describe("a runner host registers just-in-time runners through the App, and cleans up after jobs", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let running: TestApp;
  let runnerDir: string;
  const allowed = process.env.KTO_RUNNER_REPOSITORIES;

  beforeAll(async () => {
    // The App registers only for listed repositories; someone/else is listed but has no installation.
    process.env.KTO_RUNNER_REPOSITORIES = `${REPO},someone/else`;
    running = await startTestApp({ settings: { KTO_RUNNER_REGISTRATION_SECRET: SECRET } });
    ({ github, app } = running);
    github.state.installations.set(REPO, 42);
    // Stands in for the Actions runner release: records how kto-runner-host.sh starts it.
    runnerDir = await mkdtemp(join(tmpdir(), "kto-actions-runner-"));
    await writeFile(
      join(runnerDir, "run.sh"),
      `#!/bin/sh\nprintf '%s\\n' "$@" > "${runnerDir}/args"\necho "$ACTIONS_RUNNER_INPUT_JITCONFIG" > "${runnerDir}/jitconfig"\necho "$ACTIONS_RUNNER_HOOK_JOB_COMPLETED" > "${runnerDir}/hook"\n`,
    );
    await chmod(join(runnerDir, "run.sh"), 0o755);
  });

  afterAll(async () => {
    if (allowed === undefined) delete process.env.KTO_RUNNER_REPOSITORIES;
    else process.env.KTO_RUNNER_REPOSITORIES = allowed;
    await running.close();
    await rm(runnerDir, { recursive: true, force: true });
    await rm(`${runnerDir}-instances`, { recursive: true, force: true });
  });

  const register = (body: unknown, secret = SECRET) =>
    fetch(`${app.url}/kto/api/runners/jitconfig`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("kto-runner-host.sh registering just in time registers one runner with this host's labels and starts it with its JIT config and the cleanup hook", async () => {
    const result = await execa("bash", [join(ROOT, "self-hosted/kto-runner-host.sh"), "3"], {
      env: {
        KTO_APP_URL: app.url,
        KTO_RUNNER_REGISTRATION_SECRET: SECRET,
        KTO_RUNNER_REPOSITORY: REPO,
        KTO_RUNNER_DIR: runnerDir,
        KTO_RUNNER_HOME: `${runnerDir}-instances`,
        KTO_RUNNER_LABELS: "lab-a,rack-7",
        // Registration by token, the default, is tested with config.sh's stand-in in test/security/runner-host.test.ts.
        KTO_RUNNER_REGISTRATION: "jit",
      },
      reject: false,
    });
    expect(result.stderr).toContain("registered runner");
    expect(result.exitCode).toBe(0);
    // No arguments (printf's one empty line): the JIT config is not on the command line.
    expect(await readFile(join(runnerDir, "args"), "utf8")).toBe("\n");
    const encoded = (await readFile(join(runnerDir, "jitconfig"), "utf8")).trim();
    const runners = github.state.runners.get(REPO)!;
    expect(runners).toHaveLength(1);
    const runner = runners[0]!;
    expect(JSON.parse(Buffer.from(encoded, "base64").toString())[".runner"]).toMatchObject({ agentId: runner.id, agentName: runner.name });
    expect(runner.name).toMatch(new RegExp(`^${hostname().split(".")[0]!.toLowerCase()}-3-[0-9a-f]{6}$`));
    const labels = runner.labels.map((l) => l.name);
    const host = labelsForHost(await readHostFacts(), { name: runner.name });
    expect(labels).toEqual(["self-hosted", "Linux", "X64", ...host.labels, "lab-a", "rack-7"]);
    expect(labels).toContain(`kto-runner-${runner.name}`);
    expect((await readFile(join(runnerDir, "hook"), "utf8")).trim()).toBe(join(ROOT, "self-hosted/job-completed.sh"));
    // The App now follows this repository's runners.
    expect(app.pool.track(REPO, 42)).toBe(false);
    expect(github.rejected).toEqual([]);
  });

  it("refuses a wrong secret, a malformed request and an uninstalled repository, and registers nothing", async () => {
    const before = github.state.runners.get(REPO)?.length ?? 0;
    const wrong = await register({ repository: REPO, name: "r1", labels: ["kto-runner-r1"] }, "x".repeat(40));
    expect(wrong.status).toBe(401);
    const malformed = await register({ repository: REPO, name: "r1", labels: ["x86_64"] });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { message: string }).message).toMatch(/^labels: one label must be the runner's unique kto-runner-<name> label/);
    const both = await register({ repository: REPO, organization: "octo-org", name: "r1", labels: ["kto-runner-r1"] });
    expect(((await both.json()) as { message: string }).message).toMatch(/exactly one of repository and organization/);
    const elsewhere = await register({ repository: "someone/else", name: "r1", labels: ["kto-runner-r1"] });
    expect(elsewhere.status).toBe(404);
    expect(((await elsewhere.json()) as { message: string }).message).toBe("the kto App is not installed on someone/else: install it there first");
    expect(github.state.runners.get(REPO)?.length ?? 0).toBe(before);
    expect(github.state.runners.has("someone/else")).toBe(false);
  });

  it("kto host register says why the App refused, and exits 1; without a secret it is a usage error", async () => {
    const refused = await execa("node", [join(ROOT, "bin/kto.js"), "host", "register", "--repository", "someone/else", "--app-url", app.url], {
      env: { KTO_RUNNER_REGISTRATION_SECRET: SECRET },
      reject: false,
    });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain("the App refused the registration (404): the kto App is not installed on someone/else: install it there first");
    expect(refused.stdout).toBe("");
    const noSecret = await execa("node", [join(ROOT, "bin/kto.js"), "host", "register", "--repository", REPO, "--app-url", app.url], {
      env: { KTO_RUNNER_REGISTRATION_SECRET: "" },
      reject: false,
    });
    expect(noSecret.exitCode).toBe(2);
    expect(noSecret.stderr).toContain("KTO_RUNNER_REGISTRATION_SECRET");
  });

  it("a name already registered is a 409 that says what to do", async () => {
    expect((await register({ repository: REPO, name: "dup-1", labels: ["kto-runner-dup-1"] })).status).toBe(201);
    const again = await register({ repository: REPO, name: "dup-1", labels: ["kto-runner-dup-1"] });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toMatch(/already registered: remove it/);
  });

  it("job-completed.sh removes containers and processes of kto processes that are gone, keeps live ones, and empties the workspace", async () => {
    const docker = new Docker();
    const dead = `${hostname()}:999999`;
    const live = `${hostname()}:${process.pid}`;
    const make = async (owner: string) => {
      const container = await docker.createContainer({ Image: "kto/busybox:1", Cmd: ["sleep", "300"], Labels: { [OWNER_LABEL]: owner } });
      await container.start();
      return container.id;
    };
    const [orphan, kept] = [await make(dead), await make(live)];
    const leftover = spawn("sleep", ["300"], { env: { ...process.env, KTO_OWNER: dead }, stdio: "ignore" });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => leftover.once("exit", (_code, signal) => resolve(signal)));
    // The runner's directory, with the job's checkout under its _work, as the runner lays them out.
    const runnerRoot = await mkdtemp(join(tmpdir(), "kto-runner-root-"));
    const workspace = join(runnerRoot, "_work", "kernel", "kernel");
    await mkdir(workspace, { recursive: true });
    await writeFile(join(workspace, "left.txt"), "x");
    try {
      const hook = await execa("bash", [join(ROOT, "self-hosted/job-completed.sh")], { env: { GITHUB_WORKSPACE: workspace, KTO_RUNNER_ROOT: runnerRoot } });
      expect(hook.stdout).toContain("removed 1 leftover container and 1 leftover process");
      expect(await exited).toBe("SIGKILL");
      await expect(docker.getContainer(orphan).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect((await docker.getContainer(kept).inspect()).State.Running).toBe(true);
      expect(await execa("ls", ["-A", workspace]).then((r) => r.stdout)).toBe("");
    } finally {
      leftover.kill("SIGKILL");
      await docker.getContainer(kept).remove({ force: true });
      await docker
        .getContainer(orphan)
        .remove({ force: true })
        .catch(() => undefined);
      await rm(runnerRoot, { recursive: true, force: true });
    }
  });
});
