import { buildPlan } from "../../config/build-plan.js";
import { formatDuration } from "../../config/duration.js";
import { buildNeeded } from "../../config/job-spec.js";
import { loadConfigFile } from "../../config/load-config.js";
import { oneLine } from "../../runners/report/terminal-text.js";
import { EXIT } from "../exit-codes.js";
import { printOut } from "../terminal.js";

export async function planCommand(file: string, options: { suite: string[]; json?: boolean }): Promise<number> {
  const plan = buildPlan(await loadConfigFile(file), { suites: options.suite.length ? options.suite : undefined });
  if (options.json) {
    printOut(`${JSON.stringify(plan, null, 2)}\n`);
    return EXIT.ok;
  }
  // Which build a job waits for, in a column of its own only when the plan has builds.
  const withBuilds = plan.jobs.some((job) => job.runner === "build");
  const rows = plan.jobs.map((job) => [
    oneLine(job.id),
    job.runner,
    String(job.priority),
    formatDuration(job.timeoutMs),
    oneLine(job.labels.join(",")) || "-",
    ...(withBuilds ? [oneLine(buildNeeded(job) ?? "-")] : []),
  ]);
  const header = ["job", "runner", "priority", "timeout", "labels", ...(withBuilds ? ["after"] : [])];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    printOut(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
  return EXIT.ok;
}
