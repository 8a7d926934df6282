import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RunResult } from "../types.js";
import { writeJunit } from "./junit-writer.js";
import type { RunReport } from "./run-report.js";
import { summaryMarkdown } from "./summary-markdown.js";

/** results.json, junit.xml and summary.md of a run, beside its jobs/ folder. */
export async function writeResultsFolder(outDir: string, report: RunReport, results: readonly { name: string; result: RunResult }[]): Promise<void> {
  await writeFile(join(outDir, "results.json"), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(
    join(outDir, "junit.xml"),
    writeJunit(
      results.map(({ name, result }) => ({ name, results: result.results, status: result.status, reason: result.reason, durationMs: result.durationMs })),
    ),
  );
  await writeFile(join(outDir, "summary.md"), summaryMarkdown(report));
}
