import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import {
  actionsRunnerEnv,
  startAppDouble,
  startAzurite,
  startResultsService,
  startTokenEndpoint,
  type ResultsServiceDouble,
} from "../helpers/actions-runtime.js";
import { BUSYBOX_IMAGE, job, withTempDir } from "../helpers/job.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NOBODY = 65534;
// The docker group owns the engine's socket, as it does for a runner's user.
const DOCKER_GROUP = Number(readFileSync("/etc/group", "utf8").match(/^docker:[^:]*:(\d+):/m)?.[1] ?? 0);

interface WorkflowCommand {
  command: string;
  properties: Record<string, string>;
  data: string;
}

const unescape = (text: string, extra: [string, string][]) =>
  [["%0D", "\r"], ["%0A", "\n"], ...extra, ["%25", "%"]].reduce((t, [from, to]) => t.split(from!).join(to!), text);

/** `::name key=value,…::data`, once leading whitespace is trimmed (the runner's TryParseV2). */
function parseV2(line: string): WorkflowCommand | null {
  const trimmed = line.replace(/^[\s\u0085]+/, "");
  if (!trimmed.startsWith("::")) return null;
  const end = trimmed.indexOf("::", 2);
  if (end < 0) return null;
  const info = trimmed.slice(2, end);
  const space = info.indexOf(" ");
  const command = space < 0 ? info : info.slice(0, space);
  if (!command) return null;
  const properties: Record<string, string> = {};
  if (space > 0)
    for (const pair of info
      .slice(space + 1)
      .trim()
      .split(",")
      .filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq > 0 && eq < pair.length - 1)
        properties[pair.slice(0, eq)] = unescape(pair.slice(eq + 1), [
          ["%3A", ":"],
          ["%2C", ","],
        ]);
    }
  return { command, properties, data: unescape(trimmed.slice(end + 2), []) };
}

/** `##[name key=value;…]data` anywhere in the line (the runner's older TryParse). */
function parseV1(line: string): WorkflowCommand | null {
  const start = line.indexOf("##[");
  if (start < 0) return null;
  const end = line.indexOf("]", start);
  if (end < 0) return null;
  const info = line.slice(start + 3, end);
  const space = info.indexOf(" ");
  const command = space < 0 ? info : info.slice(0, space);
  if (!command) return null;
  return { command, properties: {}, data: line.slice(end + 1) };
}

/**
 * The workflow commands the Actions runner takes from a step's output, as its
 * ActionCommandManager does: each line (ended by \n, \r\n or \r) is tried as a command in
 * the current syntax, then the older one; after `stop-commands` only the stop token, in
 * either syntax and in any case, is acted on, and it resumes processing. Every command
 * name counts, where the runner knows a fixed list: this finds more, never fewer.
 */
function runnerCommands(output: string): WorkflowCommand[] {
  const commands: WorkflowCommand[] = [];
  let stopToken: string | null = null;
  for (const line of output.split(/\r\n|\r|\n/)) {
    const command = parseV2(line) ?? parseV1(line);
    if (!command) continue;
    if (stopToken !== null) {
      if (command.command.toLowerCase() === stopToken.toLowerCase()) stopToken = null;
    } else if (command.command === "stop-commands") stopToken = command.data;
    else commands.push(command);
  }
  return commands;
}

// What a pull request's config and its job's output put in names and reasons.
const MATRIX_VALUE = "x\n::add-mask::secret0\r::error file=a::owned0\n  ::set-env name=A::owned0";
const REASON = "x\n::add-mask::secret1\n::error file=a,line=1::owned1\n##[add-mask]secret2";
const BAIL_OUT = "##[add-mask]secret3 ::error::owned3";

describe("what the action prints cannot give the Actions runner workflow commands", () => {
  it("names and reasons from a config and a job's output show in the log, and no line of them is taken as a command", async () => {
    await withTempDir(async (dir) => {
      const workspace = join(dir, "workspace");
      await mkdir(join(workspace, ".github"), { recursive: true });
      await writeFile(
        join(workspace, ".github", "kto.yml"),
        [
          "version: 1",
          "suites:",
          "  - name: evil",
          "    runner: docker",
          `    image: ${BUSYBOX_IMAGE}`,
          "    command: cat evil.tap",
          "    results: tap",
          `    matrix: { flavour: [${JSON.stringify(MATRIX_VALUE)}] }`,
          "  - name: bail",
          "    runner: docker",
          `    image: ${BUSYBOX_IMAGE}`,
          "    command: cat bail.tap",
          "    results: tap",
        ].join("\n"),
      );
      await writeFile(join(workspace, "evil.tap"), `TAP version 13\n1..1\nnot ok 1 - arith\n  ---\n  message: ${JSON.stringify(REASON)}\n  ...\n`);
      await writeFile(join(workspace, "bail.tap"), `TAP version 13\n1..1\nBail out! ${BAIL_OUT}\n`);
      const env = await actionsRunnerEnv({ dir, workspace, inputs: { config: ".github/kto.yml" } });
      const stdout = await new Promise<string>((resolve) =>
        execFile(process.execPath, [join(ROOT, "dist", "index.js")], { env, cwd: workspace, maxBuffer: 64 * 1024 * 1024 }, (_error, out) => resolve(out)),
      );
      // The job ran, and its name and reasons are in the log as they are.
      expect(stdout).toContain("\n::add-mask::secret0\r::error file=a::owned0\n  ::set-env name=A::owned0");
      expect(stdout).toContain(`bailed out: ${BAIL_OUT}`);

      const commands = runnerCommands(stdout);
      expect(commands.filter((c) => !["error", "warning", "notice", "group", "endgroup"].includes(c.command))).toEqual([]);
      expect(commands.filter((c) => "file" in c.properties)).toEqual([]);
      // An annotation shows a reason's lines in its message, where they command nothing.
      const annotation = commands.find((c) => c.command === "error" && c.data.includes("secret1"));
      expect(annotation?.data).toBe(REASON);
    });
  });

  it("text shaped like a command is shown between stop-commands markers, with a token it does not hold", async () => {
    const texts = [
      "::add-mask::a",
      " \t::error file=a::b",
      "x\r::warning::c",
      "x\r\n::notice::d",
      "x\u2028::error::e",
      "y ##[add-mask]f",
      "::stop-commands::g\n::add-mask::h",
      "kto: plain words",
    ];
    const script = `import { printLog } from ${JSON.stringify(join(ROOT, "lib/src/action/workflow-log.js"))}; for (const t of JSON.parse(process.argv[1])) printLog(t);`;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--input-type=module", "-e", script, JSON.stringify(texts)], (error, out) => (error ? reject(error) : resolve(out))),
    );
    expect(runnerCommands(stdout)).toEqual([]);
    for (const text of texts) expect(stdout).toContain(text);
    expect(stdout).toContain("\nkto: plain words\n");
    expect(stdout.split("\n").filter((line) => /^::stop-commands::[0-9a-f]{32}$/.test(line))).toHaveLength(texts.length - 1);
  });
});

describe("a results file named like a workflow command", () => {
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

  it("is left out of the artifact and listed, commands nothing, and the job is still reported", async () => {
    await withTempDir(async (dir) => {
      const tokens = await startTokenEndpoint();
      const app = await startAppDouble();
      try {
        const evil = "##[error file=README.md;line=1;title=Security]rotate your tokens now";
        // The file the job cannot read back is what makes the artifact library print its name.
        const command = `cd /results && echo kept > kept.txt && echo x > '${evil}' && chmod 000 '${evil}' && ln -s /etc/passwd link`;
        const spec = job({ id: "evil-names", command });
        const env = await actionsRunnerEnv({
          dir,
          workspace: ROOT,
          inputs: { job: JSON.stringify({ id: "plan-1/evil-names", attempt: 1, spec }), "app-url": app.url },
          extra: {
            HOME: dir,
            ACTIONS_RUNTIME_TOKEN: results.runtimeToken,
            ACTIONS_RESULTS_URL: `${results.url}/`,
            ACTIONS_ID_TOKEN_REQUEST_URL: tokens.url,
            ACTIONS_ID_TOKEN_REQUEST_TOKEN: tokens.requestToken,
          },
        });
        // As on a hosted runner, the action is not root: a file the job made unreadable stays unreadable to it.
        for (const path of [dir, join(dir, "temp")]) await chmod(path, 0o777);
        for (const file of ["output", "summary", "state"]) await chmod(join(dir, file), 0o666);
        const stdout = await new Promise<string>((resolve) =>
          execFile(
            process.execPath,
            [join(ROOT, "dist", "index.js")],
            { env, cwd: ROOT, uid: NOBODY, gid: DOCKER_GROUP, maxBuffer: 64 * 1024 * 1024 },
            (_error, out) => resolve(out),
          ),
        );
        expect(runnerCommands(stdout).filter((c) => JSON.stringify(c).includes("rotate your tokens"))).toEqual([]);
        expect(stdout).toContain(`${JSON.stringify(`jobs/evil-names/results/${evil}`)}: its name holds ##[`);
        expect(stdout).toContain('"jobs/evil-names/results/link": not a regular file');
        expect(app.events.map((e) => e.body.kind)).toEqual(["started", "finished"]);
        const zip = await results.download("kto-evil-names-attempt-1");
        expect(zip.includes(Buffer.from("jobs/evil-names/results/kept.txt"))).toBe(true);
        expect(zip.includes(Buffer.from("rotate your tokens"))).toBe(false);
      } finally {
        await tokens.close();
        await app.close();
      }
    });
  });
});
