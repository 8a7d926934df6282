import { formatDuration } from "../../config/duration.js";
import { formatSize } from "../../config/size.js";
import { buildSummaryLines } from "./build-report.js";
import { codeSpan, fencedBlock, inlineText, pathLink, tableCell } from "./markdown.js";
import type { JobReport, RunReport } from "./run-report.js";
import { terminalText } from "./terminal-text.js";

const ICON: Record<JobReport["status"], string> = {
  succeeded: "✅",
  failed: "❌",
  timed_out: "⏱️",
  cancelled: "🚫",
  errored: "⚠️",
  skipped: "⏭️",
};

function testsCell(job: JobReport): string {
  const t = job.tests;
  if (t.total === 0) return "—";
  const parts = [`${t.passed}/${t.total} passed`];
  if (t.failed) parts.push(`${t.failed} failed`);
  if (t.errored) parts.push(`${t.errored} errored`);
  if (t.skipped) parts.push(`${t.skipped} skipped`);
  return parts.join(", ");
}

function bootCell(job: JobReport): string {
  if (!job.boot) return "";
  const boot = job.metrics.bootMs != null ? formatDuration(job.metrics.bootMs) : "?";
  return `${boot} (${job.boot.path}, ${job.boot.accelerator})`;
}

/** The page a person reads first: one row per job, then each failure with its reason and location. */
export function summaryMarkdown(report: RunReport, options: { linkBase?: string } = {}): string {
  const link = (path: string) => `${options.linkBase ?? ""}${path}`;
  const totals = report.totals;
  const lines = [
    `# kto: ${ICON[report.status]} ${report.status}`,
    "",
    `${report.jobs.length} job${report.jobs.length === 1 ? "" : "s"} from ${codeSpan(report.config)} in ${formatDuration(report.durationMs)}: ` +
      Object.entries(totals.jobs)
        .filter(([, n]) => n > 0)
        .map(([status, n]) => `${n} ${status}`)
        .join(", ") +
      `. Tests: ${totals.tests.passed} passed, ${totals.tests.failed} failed, ${totals.tests.errored} errored, ${totals.tests.skipped} skipped.`,
    "",
    "| job | status | tests | duration | boot | CPU | peak memory | logs |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const job of report.jobs) {
    const logs = [pathLink("stdout", link(`${job.dir}/${job.logs.stdout}`)), pathLink("stderr", link(`${job.dir}/${job.logs.stderr}`))];
    if (job.logs.console) logs.push(pathLink("console", link(`${job.dir}/${job.logs.console}`)));
    lines.push(
      `| ${tableCell(job.name)} | ${ICON[job.status]} ${job.status}${job.outcome !== "passed" && job.outcome !== job.status ? ` (${job.outcome})` : ""} | ${testsCell(job)} | ${formatDuration(job.durationMs)} | ${bootCell(job)} | ${job.metrics.cpuMs != null ? formatDuration(job.metrics.cpuMs) : "—"} | ${job.metrics.memoryPeakBytes != null ? formatSize(job.metrics.memoryPeakBytes) : "—"} | ${logs.join(" ")} |`,
    );
  }
  const troubled = report.jobs.filter((job) => job.status !== "succeeded");
  if (troubled.length > 0) {
    lines.push("", "## What went wrong", "");
    for (const job of troubled) {
      lines.push(`### ${inlineText(job.name)}: ${job.status}`, "", /[\r\n]/.test(job.reason) ? fencedBlock(job.reason) : job.reason, "");
      if (job.crash) {
        if (job.crash.location) lines.push(`The kernel stopped at ${codeSpan(`${job.crash.location.file}:${job.crash.location.line}`)}.`, "");
        lines.push(fencedBlock(job.crash.frames.join("\n")), "");
      }
      for (const failure of job.failures.slice(0, 50)) {
        const where = failure.location ? ` at ${codeSpan(`${failure.location.file}:${failure.location.line}`)}` : "";
        lines.push(`- **${inlineText([...failure.path, failure.name].join(" › "))}** ${failure.status}${where}`);
        if (failure.reason) lines.push("", fencedBlock(failure.reason, "  "));
      }
      if (job.failures.length > 50) lines.push(`- … and ${job.failures.length - 50} more in ${job.dir}/result.json`);
      lines.push("");
    }
  }
  const builds = report.jobs.filter((job) => job.build);
  if (builds.length > 0) {
    lines.push("", "## Builds", "");
    for (const job of builds) lines.push(...buildSummaryLines(job.name, job.build!));
  }
  const timed = report.jobs
    .flatMap((job) => job.slowest.map((t) => ({ job, t })))
    .sort((a, b) => b.t.durationMs - a.t.durationMs)
    .slice(0, 10);
  if (timed.length > 0) {
    lines.push("", "## Slowest tests", "", "| test | job | duration |", "|---|---|---|");
    for (const { job, t } of timed) lines.push(`| ${tableCell([...t.path, t.name].join(" › "))} | ${tableCell(job.name)} | ${formatDuration(t.durationMs)} |`);
  }
  const withArtifacts = report.jobs.filter((job) => job.artifacts.length > 0);
  if (withArtifacts.length > 0) {
    lines.push("", "## Artifacts", "");
    for (const job of withArtifacts) {
      lines.push(
        `- ${inlineText(job.name)}: ${job.artifacts.map((a) => `${pathLink(a.path, link(`${job.dir}/${a.path}`))} (${formatSize(a.size)})`).join(", ")}`,
      );
    }
  }
  // Read in a terminal as often as on GitHub (`cat summary.md`): a job's escape sequences are shown, not run.
  return terminalText(`${lines.join("\n").trimEnd()}\n`);
}
