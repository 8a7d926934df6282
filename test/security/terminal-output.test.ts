import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { parseResults } from "../../src/runners/results/detect.js";
import { BUSYBOX_IMAGE } from "../helpers/job.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const KTO = join(ROOT, "bin", "kto.js");

// What a test's name or message can hold to act on the terminal that shows it: OSC 52 writes
// the clipboard, CSI 2J clears the screen, the 8-bit CSI does what ESC [ does, a carriage
// return and backspaces overwrite what was printed, OSC 0 sets the window title.
const CLIPBOARD = "\x1b]52;c;b3duZWQ=\x07";
const HOSTILE = `name${CLIPBOARD}\x1b[2J\x9b31m\rok 1 all passed\b\b\x1b]0;title\x1b\\`;

/** Control characters a terminal acts on: everything below space but tab and newline, DEL, and C1. */
// eslint-disable-next-line no-control-regex
const ACTIVE = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** What log-update draws the live table with: cursor hide and show, erase line, cursor up, column 1. */
// eslint-disable-next-line no-control-regex
const LOG_UPDATE = /\x1b\[(?:\?25[lh]|2K|1A|G)/g;

function kto(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [KTO, ...args], { cwd, env: { ...process.env, CI: "1", KTO_DATA_DIR: join(cwd, ".kto") } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("what kto prints from results and configs cannot drive the terminal", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kto-terminal-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("kto parse shows a JUnit test name's and message's escape sequences as text, in its summary, its JSON and its JUnit", async () => {
    const file = join(dir, "results.xml");
    const xml = `<testsuites><testsuite name="s"><testcase name="${HOSTILE}"><failure message="${HOSTILE}">${HOSTILE}</failure></testcase></testsuite></testsuites>`;
    await writeFile(file, xml);
    const test = parseResults(xml, "junit").tests[0]!.children[0]!;
    expect(test.name).toContain(CLIPBOARD);

    const text = await kto(["parse", file], dir);
    expect(text.code).toBe(1);
    expect(text.stdout).not.toMatch(ACTIVE);
    expect(text.stdout).toContain("  failed: s › name\\u001b]52;c;b3duZWQ=\\u0007\\u001b[2J\\u009b31m\\nok 1 all passed\\u0008\\u0008");
    // One line per failing test: a line break in the name cannot start a line of its own.
    expect(text.stdout.split("\n").filter((line) => line.startsWith("ok 1"))).toEqual([]);

    const json = await kto(["parse", file, "--json"], dir);
    expect(json.stdout).not.toMatch(ACTIVE);
    // Escaped as JSON escapes, so a program reads back exactly what the results hold.
    const parsed = JSON.parse(json.stdout) as { tests: { name: string; reason?: string }[] };
    expect(parsed.tests[0]).toMatchObject({ name: test.name, reason: test.reason });

    const junit = await kto(["parse", file, "--junit"], dir);
    expect(junit.stdout).toContain("<testsuites>");
    expect(junit.stdout).not.toMatch(ACTIVE);
  });

  it("kto run shows a job name's and a test's escape sequences as text, in its output and its results folder, and still draws its own live table", async () => {
    await writeFile(
      join(dir, "kto.yml"),
      [
        "version: 1",
        "suites:",
        "  - name: evil",
        "    runner: docker",
        `    image: ${BUSYBOX_IMAGE}`,
        `    command: printf 'TAP version 13\\n1..1\\nnot ok 1 - \\033]52;c;b3duZWQ=\\007\\n'; exit 1`,
        "    results: tap",
        "    matrix:",
        `      flavour: ["\\e]52;c;b3duZWQ=\\a\\e[2J\\r"]`,
      ].join("\n"),
    );
    for (const progress of ["plain", "live"]) {
      const run = await kto(["run", "kto.yml", "--progress", progress, "--out", join(dir, `out-${progress}`)], dir);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain("kto: failed: 1 jobs");
      expect(run.stdout).not.toMatch(ACTIVE);
      expect(run.stderr).toContain("evil (flavour=\\u001b]52;c;b3duZWQ=\\u0007\\u001b[2J\\n)");
      // The live table is redrawn with log-update's own cursor and erase sequences, and nothing else.
      const own = run.stderr.replace(LOG_UPDATE, "");
      expect(own).not.toMatch(ACTIVE);
      if (progress === "live") expect(own).not.toBe(run.stderr);
    }
    // The results folder is read in terminals too (`cat summary.md`), and XML has no place for them.
    for (const file of ["summary.md", "junit.xml"]) {
      const text = await readFile(join(dir, "out-plain", file), "utf8");
      expect(text).toContain("\\u001b]52;c;b3duZWQ=\\u0007");
      expect(text).not.toMatch(ACTIVE);
    }
  });
});
