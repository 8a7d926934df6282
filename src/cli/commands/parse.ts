import { readFile } from "node:fs/promises";
import { parseResults } from "../../runners/results/detect.js";
import { leaves, type ResultsFormat } from "../../runners/results/types.js";
import { writeJunit } from "../../runners/report/junit-writer.js";
import { oneLine } from "../../runners/report/terminal-text.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { printOut } from "../terminal.js";

async function readInput(file: string): Promise<string> {
  if (file === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }
  return readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`${file}: ${error.code === "ENOENT" ? "no such file" : error.message}`);
  });
}

/** Exit 0 when every test passed (or was skipped), 1 otherwise: usable as a check in scripts. */
export async function parseCommand(file: string, options: { format: ResultsFormat | "auto"; json?: boolean; junit?: boolean }): Promise<number> {
  const parsed = parseResults(await readInput(file), options.format);
  // Nothing failed when every test was skipped: the same exit as a pass.
  const code = parsed.status === "passed" || parsed.status === "skipped" ? EXIT.ok : EXIT.failed;
  if (options.json) {
    const tests = leaves(parsed.tests).map(({ log: _log, ...test }) => test);
    printOut(`${JSON.stringify({ format: parsed.format, status: parsed.status, counts: parsed.counts, tests, errors: parsed.errors }, null, 2)}\n`);
    return code;
  }
  if (options.junit) {
    printOut(writeJunit([{ name: file, results: parsed, status: parsed.status, reason: parsed.errors[0] ?? "", durationMs: 0 }]));
    return code;
  }
  const c = parsed.counts;
  printOut(
    `${file}: ${parsed.format}: ${parsed.status}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, ${c.errored} errored, ${c.total} total\n`,
  );
  for (const test of leaves(parsed.tests).filter((t) => t.status === "failed" || t.status === "errored")) {
    const where = test.location ? ` (${oneLine(test.location.file)}:${test.location.line})` : "";
    printOut(`  ${test.status}: ${oneLine([...test.path, test.name].join(" › "))}${where}${test.reason ? `: ${oneLine(test.reason.split("\n")[0]!)}` : ""}\n`);
  }
  for (const error of parsed.errors) printOut(`  note: ${oneLine(error)}\n`);
  return code;
}
