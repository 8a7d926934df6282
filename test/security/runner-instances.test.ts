import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { execa } from "execa";
import type { RunningApp } from "../../src/app/server.js";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import { actionsRunnerEnv } from "../helpers/actions-runtime.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { BUSYBOX_IMAGE, withTempDir } from "../helpers/job.js";
import { startTestApp, type TestApp } from "../helpers/test-app.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const REPO = "octo-org/kernel";
const SECRET = "i".repeat(40);

/** What one instance's runner saw: the directory it ran from, its job's workspace, its environment. */
interface Seen {
  root: string;
  workspace: string;
  env: Record<string, string>;
}

// Stands in for the Actions runner as far as its directory goes: like Runner.Listener it
// writes each file of its JIT config (.runner, .credentials, …) into the directory it runs
// from, and its jobs check out under the work folder there.
const FAKE_RUNNER = `import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
const [root, seen] = process.argv.slice(2);
const config = JSON.parse(Buffer.from(process.env.ACTIONS_RUNNER_INPUT_JITCONFIG, "base64").toString());
const decode = (content) => (typeof content === "string" ? Buffer.from(content, "base64").toString() : JSON.stringify(content));
for (const [file, content] of Object.entries(config)) writeFileSync(join(root, file), decode(content));
const runner = JSON.parse(decode(config[".runner"]));
const workspace = join(root, runner.workFolder, "kernel", "kernel");
mkdirSync(workspace, { recursive: true });
writeFileSync(join(seen, runner.agentName + ".json"), JSON.stringify({ root, workspace, env: process.env }));
`;

const docker = new Docker();
const running = async (id: string) => (await docker.getContainer(id).inspect()).State.Running;
const removeContainer = (id: string) =>
  docker
    .getContainer(id)
    .remove({ force: true })
    .catch(() => undefined);

describe("several runner instances on one host (kto-runner@1, kto-runner@2)", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let testApp: TestApp;
  let dir: string;
  const seen: Record<string, Seen> = {};
  const allowed = process.env.KTO_RUNNER_REPOSITORIES;

  beforeAll(async () => {
    process.env.KTO_RUNNER_REPOSITORIES = REPO;
    testApp = await startTestApp({ settings: { KTO_RUNNER_REGISTRATION_SECRET: SECRET } });
    ({ github, app } = testApp);
    github.state.installations.set(REPO, 42);
    dir = await mkdtemp(join(tmpdir(), "kto-instances-"));
    const release = join(dir, "actions-runner");
    await mkdir(join(dir, "seen"), { recursive: true });
    await mkdir(release);
    await writeFile(join(dir, "runner.mjs"), FAKE_RUNNER);
    await writeFile(join(release, "run.sh"), `#!/bin/sh\nexec node "${dir}/runner.mjs" "$(cd "$(dirname "$0")" && pwd)" "${dir}/seen"\n`);
    await chmod(join(release, "run.sh"), 0o755);
    const env = {
      KTO_APP_URL: app.url,
      KTO_RUNNER_REGISTRATION_SECRET: SECRET,
      KTO_RUNNER_REPOSITORY: REPO,
      KTO_RUNNER_DIR: release,
      KTO_RUNNER_HOME: join(dir, "home"),
      // The stand-in release has no config.sh: its runners are registered just in time.
      KTO_RUNNER_REGISTRATION: "jit",
    };
    // The two units start together at boot.
    const started = await Promise.all(
      ["1", "2"].map((instance) => execa("bash", [join(ROOT, "self-hosted/kto-runner-host.sh"), instance], { env, reject: false })),
    );
    expect(started.map((r) => [r.exitCode, r.stderr])).toEqual([
      [0, expect.stringContaining("registered runner")],
      [0, expect.stringContaining("registered runner")],
    ]);
    for (const runner of github.state.runners.get(REPO)!) {
      const instance = /-(\d+)-[0-9a-f]{6}$/.exec(runner.name)![1]!;
      seen[instance] = JSON.parse(await readFile(join(dir, "seen", `${runner.name}.json`), "utf8")) as Seen;
    }
  });

  afterAll(async () => {
    if (allowed === undefined) delete process.env.KTO_RUNNER_REPOSITORIES;
    else process.env.KTO_RUNNER_REPOSITORIES = allowed;
    await testApp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("each instance runs from a directory of its own, which only its user can read: its registration, credentials and work directory are its own, and the release is never written", async () => {
    expect(Object.keys(seen).sort()).toEqual(["1", "2"]);
    expect(seen["1"]!.root).not.toBe(seen["2"]!.root);
    expect(seen["1"]!.workspace).not.toBe(seen["2"]!.workspace);
    for (const [instance, { root, workspace }] of Object.entries(seen)) {
      const runner = JSON.parse(await readFile(join(root, ".runner"), "utf8")) as { agentName: string };
      expect(runner.agentName).toMatch(new RegExp(`-${instance}-[0-9a-f]{6}$`));
      expect(workspace.startsWith(`${root}/_work/`)).toBe(true);
      expect((await stat(root)).mode & 0o777).toBe(0o700);
    }
    expect(await readdir(join(dir, "actions-runner"))).toEqual(["run.sh"]);
  });

  it("one instance's job-completed hook empties its own workspace and removes its own job's leftovers, and leaves the other's running job alone", async () => {
    const [one, two] = [seen["1"]!, seen["2"]!];
    // Instance 2's job is running: its action (a live process) marks its container and its VM.
    const action = spawn("sleep", ["300"], { stdio: "ignore" });
    const liveMark = `${hostname()}:${action.pid}:feedface`;
    const vm = spawn("sleep", ["300"], { env: { ...process.env, KTO_OWNER: liveMark }, stdio: "ignore" });
    // Instance 1's job has ended: its action process is gone, and left its container.
    const ended = spawn("true");
    await new Promise((resolve) => ended.once("exit", resolve));
    const deadMark = `${hostname()}:${ended.pid}:0ddba11`;
    const make = async (mark: string) => {
      const container = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["sleep", "300"], Labels: { [OWNER_LABEL]: mark } });
      await container.start();
      return container.id;
    };
    const [left, kept] = [await make(deadMark), await make(liveMark)];
    await writeFile(join(one.workspace, "done.c"), "x");
    await writeFile(join(two.workspace, "checkout.c"), "x");
    const hook = (env: Record<string, string>, workspace: string) =>
      execa("bash", [join(ROOT, "self-hosted/job-completed.sh")], { env: { ...env, GITHUB_WORKSPACE: workspace }, extendEnv: false, reject: false });
    try {
      const done = await hook(one.env, one.workspace);
      expect(done.exitCode).toBe(0);
      expect(await readdir(one.workspace)).toEqual([]);
      await expect(docker.getContainer(left).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(await readdir(two.workspace)).toEqual(["checkout.c"]);
      expect(await running(kept)).toBe(true);
      expect(vm.exitCode === null && vm.signalCode === null).toBe(true);

      // A workspace named by a job's environment that is not this instance's is left as it is.
      const elsewhere = await hook(one.env, two.workspace);
      expect(elsewhere.stderr).toContain(`${two.workspace} is not in this runner's work directory`);
      expect(await readdir(two.workspace)).toEqual(["checkout.c"]);
    } finally {
      action.kill("SIGKILL");
      vm.kill("SIGKILL");
      await Promise.all([left, kept].map(removeContainer));
    }
  });
});

describe("the post step of a killed job", () => {
  /** The bundled action in a pid namespace of its own: as in a container, its pid is 1, as is another's. */
  const inPidNamespace = (script: string, env: Record<string, string>, cwd: string): ChildProcess =>
    spawn("unshare", ["--pid", "--fork", "--mount-proc", process.execPath, join(ROOT, "dist", script)], {
      env,
      cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  const until = (child: ChildProcess, text: string) =>
    new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()).includes(text) && resolve());
      child.once("exit", () => reject(new Error(`exited before printing ${text}: ${out}`)));
    });
  const exited = (child: ChildProcess) =>
    new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once("exit", resolve)));
  const savedOwner = async (stateFile: string) => /^kto-owner<<(.+)\n(.*)\n\1$/m.exec(await readFile(stateFile, "utf8"))![2]!;

  it("removes its own job's container, not the running job of another instance whose action had the same pid", async () => {
    await withTempDir(async (dir) => {
      const workspace = join(dir, "workspace");
      await mkdir(join(workspace, ".github"), { recursive: true });
      await writeFile(
        join(workspace, ".github", "kto.yml"),
        ["version: 1", "suites:", "  - name: long", "    runner: docker", `    image: ${BUSYBOX_IMAGE}`, "    command: sleep 300"].join("\n"),
      );
      const runnerOf = (name: string) => actionsRunnerEnv({ dir: join(dir, name), workspace, inputs: { config: ".github/kto.yml" } });
      const [runnerA, runnerB] = [await runnerOf("a"), await runnerOf("b")];
      const a = inPidNamespace("index.js", runnerA, workspace);
      const b = inPidNamespace("index.js", runnerB, workspace);
      const marks: string[] = [];
      try {
        await Promise.all([until(a, "kto: long: running"), until(b, "kto: long: running")]);
        marks.push(await savedOwner(runnerA.GITHUB_STATE!), await savedOwner(runnerB.GITHUB_STATE!));
        expect(marks[0]!.split(":")[1]).toBe(marks[1]!.split(":")[1]);
        // Instance A's runner dies with its job; the job's post step runs later, with its saved state.
        process.kill(-a.pid!, "SIGKILL");
        await exited(a);
        const post = inPidNamespace("post.js", { ...runnerA, "STATE_kto-owner": marks[0]! }, workspace);
        await exited(post);
        expect(await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${marks[0]}`] } })).toEqual([]);
        const others = await docker.listContainers({ filters: { label: [`${OWNER_LABEL}=${marks[1]}`] } });
        expect(others.map((c) => c.State)).toEqual(["running"]);
      } finally {
        for (const child of [a, b]) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
        await Promise.all([exited(a), exited(b)]);
        for (const mark of marks)
          for (const c of await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${mark}`] } })) await removeContainer(c.Id);
      }
    });
  });
});
