import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "@jest/globals";
import { execa } from "execa";
import type { RunningApp } from "../../src/app/server.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { startTestApp, type TestApp } from "../helpers/test-app.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const REPO = "octo-org/kernel";
const ORG = "octo-org";
const SECRET = "r".repeat(40);
const SCOPE_SETTINGS = ["KTO_RUNNER_REPOSITORIES", "KTO_RUNNER_ORGANIZATIONS", "KTO_RUNNER_GROUPS"] as const;

/** A process's environment as the kernel shows it in /proc/<pid>/environ: what it was started with. */
const environOf = (raw: string) =>
  Object.fromEntries(
    raw
      .split("\0")
      .filter(Boolean)
      .map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );

describe("runner hosts: what a job can reach, and where the App lets hosts register", () => {
  let github: GitHubApiDouble;
  let app: RunningApp;
  let running: TestApp;
  const saved = Object.fromEntries(SCOPE_SETTINGS.map((name) => [name, process.env[name]]));

  beforeAll(async () => {
    running = await startTestApp({ settings: { KTO_RUNNER_REGISTRATION_SECRET: SECRET } });
    ({ github, app } = running);
    github.state.installations.set(REPO, 42);
    github.state.installations.set(`org:${ORG}`, 43);
  });

  // The App reads where hosts may register from its environment at each registration.
  beforeEach(() => {
    for (const name of SCOPE_SETTINGS) delete process.env[name];
    process.env.KTO_RUNNER_REPOSITORIES = `${REPO},someone/uninstalled`;
  });

  afterAll(async () => {
    for (const name of SCOPE_SETTINGS) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
    await running.close();
  });

  /** What a process was started with, as the stand-ins for the Actions runner's scripts record it. */
  interface Started {
    argv: string[];
    cmdline: string;
    environ: Record<string, string>;
  }
  const record = (dir: string, what: string) =>
    `printf '%s\\n' "$@" > "${dir}/${what}-argv"\ncat /proc/$$/cmdline > "${dir}/${what}-cmdline"\ncat /proc/$$/environ > "${dir}/${what}-environ"\n`;
  const started = async (dir: string, what: string): Promise<Started> => ({
    argv: (await readFile(join(dir, `${what}-argv`), "utf8")).split("\n").filter(Boolean),
    cmdline: await readFile(join(dir, `${what}-cmdline`), "utf8"),
    environ: environOf(await readFile(join(dir, `${what}-environ`), "utf8")),
  });

  describe.each(["token", "jit"])("kto-runner-host.sh registering by %s starts the runner", (mode) => {
    let runnerDir: string;
    let exitCode: number | undefined;
    let stderr: string;
    let runner: Started;
    let config: Started | null;

    beforeAll(async () => {
      process.env.KTO_RUNNER_REPOSITORIES = REPO;
      // Stand in for the Actions runner: what each was started with is what it saw, and the
      // runner's is what its jobs inherit. config.sh writes the runner's id where the runner does.
      runnerDir = await mkdtemp(join(tmpdir(), "kto-secure-runner-"));
      await writeFile(join(runnerDir, "run.sh"), `#!/bin/sh\n${record(runnerDir, "run")}`);
      await writeFile(
        join(runnerDir, "config.sh"),
        `#!/bin/sh\n${record(runnerDir, "config")}printf '\\357\\273\\277{"agentId": 4242, "agentName": "x"}' > "$(dirname "$0")/.runner"\n`,
      );
      await chmod(join(runnerDir, "run.sh"), 0o755);
      await chmod(join(runnerDir, "config.sh"), 0o755);
      const result = await execa("bash", [join(ROOT, "self-hosted/kto-runner-host.sh"), "5"], {
        env: {
          KTO_APP_URL: app.url,
          KTO_RUNNER_REGISTRATION_SECRET: SECRET,
          KTO_RUNNER_REPOSITORY: REPO,
          KTO_RUNNER_DIR: runnerDir,
          KTO_RUNNER_HOME: `${runnerDir}-instances`,
          KTO_RUNNER_REGISTRATION: mode,
        },
        reject: false,
      });
      exitCode = result.exitCode;
      stderr = result.stderr;
      runner = await started(runnerDir, "run");
      config = mode === "token" ? await started(runnerDir, "config") : null;
    });

    afterAll(async () => {
      await rm(runnerDir, { recursive: true, force: true });
      await rm(`${runnerDir}-instances`, { recursive: true, force: true });
    });

    it("without the registration secret anywhere in its environment, or config.sh's, so its jobs cannot register runners of their own", () => {
      expect({ exitCode, stderr }).toMatchObject({ exitCode: 0 });
      for (const seen of [runner, ...(config ? [config] : [])]) {
        expect(seen.environ).not.toHaveProperty("KTO_RUNNER_REGISTRATION_SECRET");
        expect(Object.keys(seen.environ).filter((name) => seen.environ[name]!.includes(SECRET))).toEqual([]);
        expect(seen.cmdline).not.toContain(SECRET);
      }
    });

    if (mode === "jit")
      it("with its JIT config in ACTIONS_RUNNER_INPUT_JITCONFIG, not on its command line, which every user of the host can read", () => {
        const registered = github.state.runners.get(REPO)!.at(-1)!;
        const encoded = runner.environ.ACTIONS_RUNNER_INPUT_JITCONFIG;
        expect(encoded).toBeDefined();
        expect(JSON.parse(Buffer.from(encoded!, "base64").toString())[".runner"]).toMatchObject({ agentId: registered.id, agentName: registered.name });
        expect(runner.argv).not.toContain("--jitconfig");
        expect(runner.cmdline).not.toContain(encoded);
      });
    else
      it("registered by config.sh as an ephemeral runner with the App's token in its environment, never on a command line or in the runner's", async () => {
        const token = config!.environ.ACTIONS_RUNNER_INPUT_TOKEN!;
        expect(github.state.registrationTokens.get(token)).toMatchObject({ scope: REPO });
        expect(config!.cmdline).not.toContain(token);
        expect(Object.values(runner.environ).filter((value) => value.includes(token))).toEqual([]);
        expect(runner.cmdline).not.toContain(token);
        const name = config!.argv[config!.argv.indexOf("--name") + 1]!;
        expect(config!.argv).toEqual(expect.arrayContaining(["--unattended", "--ephemeral"]));
        expect(config!.argv[config!.argv.indexOf("--url") + 1]).toMatch(new RegExp(`^https?://[^/]+/${REPO}$`));
        expect(config!.argv[config!.argv.indexOf("--labels") + 1]!.split(",")).toContain(`kto-runner-${name}`);
        // The App has the runner config.sh registered, by the id the runner wrote.
        expect((await app.store.runners.list()).map((r) => r.id)).toContain(`github:${REPO}:4242`);
      });
  });

  const register = async (body: Record<string, unknown>) => {
    const response = await fetch(`${app.url}/kto/api/runners/jitconfig`, {
      method: "POST",
      headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, message: ((await response.json()) as { message?: string }).message };
  };
  const asked = () => github.requests.filter((r) => r.operationId.startsWith("actions/generate-runner-jitconfig")).length;
  const runner = (name: string, extra: Record<string, unknown> = {}) => ({ name, labels: [`kto-runner-${name}`], ...extra });

  describe("the App registers runners only where its settings allow", () => {
    it("refuses a repository the App is installed on but that KTO_RUNNER_REPOSITORIES does not list, without asking GitHub", async () => {
      github.state.installations.set("octo-org/firmware", 44);
      const before = asked();
      const refused = await register(runner("scope-1", { repository: "octo-org/firmware" }));
      expect(refused.status).toBe(403);
      expect(refused.message).toMatch(/octo-org\/firmware.*KTO_RUNNER_REPOSITORIES/);
      expect(asked()).toBe(before);
      expect(github.state.runners.has("octo-org/firmware")).toBe(false);
    });

    it("with no KTO_RUNNER_REPOSITORIES, registers for no repository", async () => {
      delete process.env.KTO_RUNNER_REPOSITORIES;
      const refused = await register(runner("scope-2", { repository: REPO }));
      expect(refused.status).toBe(403);
      expect(refused.message).toContain("KTO_RUNNER_REPOSITORIES");
    });

    it("registers for a listed repository, whatever the case of its name, and a listed one must still have the App installed", async () => {
      process.env.KTO_RUNNER_REPOSITORIES = "Octo-Org/Kernel, someone/uninstalled";
      expect((await register(runner("scope-3", { repository: REPO }))).status).toBe(201);
      expect(await register(runner("scope-4", { repository: "someone/uninstalled" }))).toEqual({
        status: 404,
        message: "the kto App is not installed on someone/uninstalled: install it there first",
      });
    });

    it("registers for an organisation only if KTO_RUNNER_ORGANIZATIONS lists it, though the App is installed there", async () => {
      const before = asked();
      const refused = await register(runner("scope-5", { organization: ORG }));
      expect(refused.status).toBe(403);
      expect(refused.message).toMatch(/octo-org.*KTO_RUNNER_ORGANIZATIONS/);
      expect(asked()).toBe(before);
      process.env.KTO_RUNNER_ORGANIZATIONS = ORG;
      expect((await register(runner("scope-6", { organization: ORG }))).status).toBe(201);
    });

    it("registers in the default runner group only, unless KTO_RUNNER_GROUPS lists others", async () => {
      process.env.KTO_RUNNER_ORGANIZATIONS = ORG;
      const refused = await register(runner("scope-7", { organization: ORG, runner_group_id: 2 }));
      expect(refused.status).toBe(403);
      expect(refused.message).toMatch(/group 2.*KTO_RUNNER_GROUPS/);
      process.env.KTO_RUNNER_GROUPS = "1,2";
      expect((await register(runner("scope-8", { organization: ORG, runner_group_id: 2 }))).status).toBe(201);
      expect((await register(runner("scope-9", { organization: ORG, runner_group_id: 3 }))).status).toBe(403);
    });

    it("refuses every registration while a scope setting is malformed, naming it", async () => {
      process.env.KTO_RUNNER_GROUPS = "default";
      const refused = await register(runner("scope-10", { repository: REPO }));
      expect(refused.status).toBe(500);
      expect(refused.message).toMatch(/^KTO_RUNNER_GROUPS: /);
      process.env.KTO_RUNNER_GROUPS = "1";
      process.env.KTO_RUNNER_REPOSITORIES = "octo-org";
      expect((await register(runner("scope-11", { repository: REPO }))).message).toMatch(/^KTO_RUNNER_REPOSITORIES: /);
    });
  });

  describe("the App refuses labels that would take another runner's jobs", () => {
    it("refuses another runner's unique kto-runner-<name> label, in any case, beside or instead of the runner's own", async () => {
      const before = asked();
      for (const labels of [["kto-runner-thief-1", "kto-runner-victim-1"], ["kto-runner-thief-1", "KTO-Runner-victim-1"], ["kto-runner-victim-1"]]) {
        const refused = await register({ repository: REPO, name: "thief-1", labels });
        expect(refused.status).toBe(400);
        expect(refused.message).toMatch(/^labels: .*victim-1.*kto-runner-thief-1/i);
      }
      expect(asked()).toBe(before);
    });

    it("refuses more labels than GitHub takes, and labels over 100 characters", async () => {
      const many = await register({ repository: REPO, name: "many-1", labels: ["kto-runner-many-1", ...Array.from({ length: 100 }, (_, i) => `l${i}`)] });
      expect(many.status).toBe(400);
      expect(many.message).toMatch(/^labels: /);
      const long = await register({ repository: REPO, name: "long-1", labels: ["kto-runner-long-1", "x".repeat(101)] });
      expect(long.status).toBe(400);
      expect(long.message).toMatch(/^labels\.1: /);
    });
  });
});
