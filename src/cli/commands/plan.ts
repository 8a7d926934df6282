import { buildPlan } from "../../config/build-plan.js";
import { formatDuration } from "../../config/duration.js";
import { loadConfigFile } from "../../config/load-config.js";
import { EXIT } from "../exit-codes.js";

export async function planCommand(file: string, options: { suite: string[]; json?: boolean }): Promise<number> {
  const plan = buildPlan(await loadConfigFile(file), { suites: options.suite.length ? options.suite : undefined });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows = plan.jobs.map((job) => [job.id, job.runner, String(job.priority), formatDuration(job.timeoutMs), job.labels.join(",") || "-"]);
  const header = ["job", "runner", "priority", "timeout", "labels"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    process.stdout.write(
      `${row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}\n`,
    );
  return EXIT.ok;
}
