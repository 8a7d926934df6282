import * as core from "@actions/core";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildPlan } from "../config/build-plan.js";
import type { JobSpec } from "../config/job-spec.js";
import { loadConfigFile } from "../config/load-config.js";
import { DockerExecutor } from "../runners/docker-executor.js";
import { ExecutorFactory } from "../runners/factory.js";
import { ownerMark } from "../runners/leftovers.js";
import { writeResultsFolder } from "../runners/report/results-folder.js";
import { jobReport, runReport } from "../runners/report/run-report.js";
import { summaryMarkdown } from "../runners/report/summary-markdown.js";
import { runJob } from "../runners/run-job.js";
import type { RunResult } from "../runners/types.js";
import { annotateFailures } from "./annotations.js";
import { RunEventClient } from "./run-event-client.js";
import { createCheckRun } from "./check-run.js";
import { getInputs } from "./inputs.js";
import { uploadResults } from "./upload.js";
import { printLog } from "./workflow-log.js";

export const OWNER_STATE = "kto-owner";

/** The action's whole run; the only place that fails the step. */
export async function run(): Promise<void> {
  try {
    await runAction();
  } catch (error) {
    core.setFailed((error as Error).message);
  }
}

async function runAction(): Promise<void> {
  const inputs = getInputs();
  const owner = ownerMark();
  core.saveState(OWNER_STATE, owner);
  process.env.KTO_OWNER = owner; // inherited by every child, so the post step finds leftovers

  const workspace = resolve(process.env.GITHUB_WORKSPACE ?? ".");
  const specs: JobSpec[] = inputs.job
    ? [inputs.job.spec]
    : buildPlan(await loadConfigFile(join(workspace, inputs.config)), { suites: inputs.suites.length ? inputs.suites : undefined }).jobs;
  const attempt = inputs.job?.attempt ?? Number(process.env.GITHUB_RUN_ATTEMPT ?? 1);
  const label = inputs.job ? inputs.job.spec.slug : inputs.suites.join("-") || "all";
  const outDir = join(process.env.RUNNER_TEMP ?? tmpdir(), `kto-${label}-${attempt}`);
  await mkdir(outDir, { recursive: true });
  core.setOutput("results-path", outDir);

  const abort = new AbortController();
  const onSignal = () => {
    core.warning("kto: the job was cancelled; stopping its container or VM");
    abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const runEvents =
    inputs.job && inputs.appUrl
      ? new RunEventClient({
          appUrl: inputs.appUrl,
          jobId: inputs.job.id,
          attempt: inputs.job.attempt,
          reportFile: join(outDir, "kto-report.json"),
          baseDelayMs: Number(process.env.KTO_REPORT_BASE_DELAY_MS ?? 1000),
        })
      : null;
  // Its docker jobs get what this runner host's policy file grants (DockerExecutor's default), and nothing without one.
  const factory = new ExecutorFactory({ docker: new DockerExecutor({ owner }) });
  const startedAt = new Date();
  const results: { spec: JobSpec; result: RunResult; dir: string }[] = [];
  for (const spec of specs) {
    const dir = join("jobs", spec.slug);
    const result = await core.group(`kto: ${spec.id} (${spec.runner})`, async () => {
      await runEvents?.send({ kind: "started", runId: process.env.GITHUB_RUN_ID });
      const heartbeat = runEvents ? setInterval(() => void runEvents.send({ kind: "heartbeat" }), 30_000) : null;
      try {
        return await runJob(spec, {
          factory,
          workspace,
          jobDir: join(outDir, dir),
          signal: abort.signal,
          onProgress: (event) => {
            if (event.kind === "phase") printLog(`kto: ${spec.id}: ${event.phase}`);
          },
        });
      } finally {
        if (heartbeat) clearInterval(heartbeat);
      }
    });
    printLog(`kto: ${spec.id}: ${result.status}: ${result.reason}`);
    results.push({ spec, result, dir });
  }
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);

  const report = runReport(
    inputs.job ? inputs.job.spec.id : inputs.config,
    results.map((r) => jobReport(r.spec, r.result, r.dir)),
    startedAt,
    new Date(),
  );
  await writeResultsFolder(
    outDir,
    report,
    results.map((r) => ({ name: r.spec.id, result: r.result })),
  );

  const artifactName = `${inputs.artifactName ?? `kto-${label}`}-attempt-${attempt}`;
  const uploaded = await core.group("kto: upload results", () => uploadResults(artifactName, outDir, inputs.retentionDays));
  if (uploaded) {
    core.setOutput("artifact-id", String(uploaded.id));
    core.setOutput("artifact-url", uploaded.url);
  }

  annotateFailures(report.jobs);
  const summary = summaryMarkdown(report, { linkBase: "" });
  await core.summary
    .addRaw(summary)
    .addRaw(uploaded ? `\n[Download the results](${uploaded.url})\n` : "")
    .write();
  core.setOutput("conclusion", report.status);

  if (runEvents) {
    const only = results[0]!.result;
    await runEvents.send({
      kind: "finished",
      status: only.status,
      outcome: only.outcome,
      reason: only.reason,
      infrastructure: only.outcome === "infrastructure",
      result: { ...jobReport(results[0]!.spec, only, results[0]!.dir), artifactId: uploaded?.id ?? null, artifactUrl: uploaded?.url ?? null },
    });
  } else if (!inputs.job) {
    if (inputs.githubToken) {
      const runUrl = process.env.GITHUB_RUN_ID
        ? `${process.env.GITHUB_SERVER_URL ?? "https://github.com"}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}`
        : null;
      await createCheckRun(inputs.githubToken, `kto / ${label}`, report, summary, runUrl).catch((error: Error) =>
        core.warning(`could not create the check run: ${error.message}`),
      );
    } else core.notice("kto: no github-token given, so no check run was created; the results are in the job summary");
  }
  if (report.status !== "succeeded")
    core.setFailed(
      `kto: ${report.status}: ${report.jobs
        .filter((j) => j.status !== "succeeded")
        .map((j) => `${j.name} ${j.status}`)
        .join(", ")}`,
    );
}
