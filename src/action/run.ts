import * as core from "@actions/core";
import * as github from "@actions/github";
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
import { caseResults, casesWithin, REPORTED_CASES_BYTES } from "../runners/report/test-cases.js";

import { jobReport, runReport } from "../runners/report/run-report.js";
import { summaryMarkdown } from "../runners/report/summary-markdown.js";
import { runJob } from "../runners/run-job.js";
import { erroredResult, skippedResult } from "../runners/finish-job.js";
import type { RunResult } from "../runners/types.js";
import { runCcache } from "./build-trust.js";
import { buildStoreDir } from "../runners/build/output-store.js";
import { BUILD_LOG, DIAGNOSTICS, MANIFEST } from "../runners/build/build-result.js";
import { annotateBuilds, annotateFailures } from "./annotations.js";
import { buildArtifactName, buildFor, handOnBuild } from "./build-handoff.js";
import { RunEventClient } from "./run-event-client.js";
import { createCheckRun } from "./check-run.js";
import { getInputs } from "./inputs.js";
import { jobSummary } from "./job-summary.js";
import { runPage } from "./artifact-service.js";
import { uploadResults } from "./upload.js";
import { StepAnnotations } from "./step-annotations.js";
import { printLog } from "./workflow-log.js";

/** What the App reads of one report, less room for the request's own fields. */
const REPORT_BYTES = 5 * 1024 * 1024 - 64 * 1024;

export const OWNER_STATE = "kto-owner";

/** The action's whole run; the only place that fails the step. */
export async function run(): Promise<void> {
  const annotations = new StepAnnotations();
  try {
    await runAction(annotations);
  } catch (error) {
    annotations.fail((error as Error).message);
  }
}

async function runAction(annotations: StepAnnotations): Promise<void> {
  const warn = (message: string) => void annotations.warning(message);
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
    annotations.warning("kto: the job was cancelled; stopping its container or VM");
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
          warn,
          // Cancelling one job of a batch leaves the run going for the others: the App says so here.
          onStop: (state) => {
            if (abort.signal.aborted) return;
            warn(`kto: the App says this job is ${state}; stopping its container or VM`);
            abort.abort();
          },
        })
      : null;
  // Its docker jobs get what this runner host's policy file grants (DockerExecutor's default), and nothing without one.
  // Kernel builds share the host's compiler cache: the repository's own, written only by trusted code.
  const factory = new ExecutorFactory({ docker: new DockerExecutor({ owner }), ccache: runCcache(inputs.job), owner });
  const store = buildStoreDir();
  const startedAt = new Date();
  const results: { spec: JobSpec; result: RunResult; dir: string }[] = [];
  for (const spec of specs) {
    const dir = join("jobs", spec.slug);
    const result = await core.group(`kto: ${spec.id} (${spec.runner})`, async () => {
      await runEvents?.send({ kind: "started", runId: process.env.GITHUB_RUN_ID });
      const heartbeat = runEvents ? setInterval(() => void runEvents.send({ kind: "heartbeat" }), 30_000) : null;
      try {
        const jobDir = join(outDir, dir);
        const sources = {
          handoff: inputs.job?.build,
          earlier: results,
          outDir,
          store,
          scratch: process.env.RUNNER_TEMP ?? tmpdir(),
          token: inputs.githubToken,
        };
        const build = await buildFor(spec, sources).catch((error: unknown) => ({ error }));
        if (build && "error" in build) return await erroredResult(spec, build.error, new Date(), jobDir);
        if (build && "skip" in build) return await skippedResult(spec, build.skip, jobDir);
        return await runJob(spec, {
          factory,
          workspace,
          jobDir,
          signal: abort.signal,
          ...(build ? { build: build.outputs } : {}),
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

  const jobReports = results.map((r) => jobReport(r.spec, r.result, r.dir));
  for (const [index, { spec, result, dir }] of results.entries()) {
    if (!result.build || result.build.outcome !== "passed") continue;
    const uploaded = await core.group(`kto: upload build ${spec.id}`, () =>
      handOnBuild(spec.slug, join(outDir, dir), result.build!, store, inputs.retentionDays, warn),
    );
    jobReports[index]!.build!.artifact = uploaded && { name: buildArtifactName(spec.slug), ...uploaded };
  }
  const report = runReport(inputs.job ? inputs.job.spec.id : inputs.config, jobReports, startedAt, new Date());
  await writeResultsFolder(
    outDir,
    report,
    results.map((r) => ({ spec: r.spec, result: r.result })),
  );

  const artifactName = `${inputs.artifactName ?? `kto-${label}`}-attempt-${attempt}`;
  const uploaded = await core.group("kto: upload results", () => uploadResults(artifactName, outDir, inputs.retentionDays, buildOutputsOf(results), warn));
  if (uploaded) {
    core.setOutput("artifact-id", uploaded.id === null ? "" : String(uploaded.id));
    core.setOutput("artifact-url", uploaded.url);
  }

  annotateBuilds(report.jobs, annotations);
  annotateFailures(report.jobs, annotations);
  const summary = summaryMarkdown(report, { linkBase: "" });
  await core.summary.addRaw(jobSummary(summary, uploaded?.url ?? null)).write();
  core.setOutput("conclusion", report.status);

  if (runEvents) {
    const only = results[0]!.result;
    const finished = {
      kind: "finished" as const,
      status: only.status,
      outcome: only.outcome,
      reason: only.reason,
      infrastructure: only.outcome === "infrastructure",
      result: { ...jobReports[0]!, artifactId: uploaded?.id ?? null, artifactUrl: uploaded?.url ?? null },
    };
    await runEvents.send({ ...finished, ...(only.status === "skipped" ? {} : reportedCases(only, Buffer.byteLength(JSON.stringify(finished)))) });
  } else if (!inputs.job) {
    if (inputs.githubToken) {
      const runUrl = process.env.GITHUB_RUN_ID ? runPage() : null;
      const pull = github.context.payload.pull_request as { head?: { sha?: string } } | undefined;
      const place = { ...github.context.repo, sha: pull?.head?.sha ?? github.context.sha };
      await createCheckRun(github.getOctokit(inputs.githubToken), place, `kto / ${label}`, report, summary, runUrl).catch((error: Error) =>
        annotations.warning(`could not create the check run: ${error.message}`),
      );
    } else annotations.notice("kto: no github-token given, so no check run was created; the results are in the job summary");
  }
  annotations.noteLeftOut(
    `${inputs.job || inputs.githubToken ? "the job's check run, " : ""}the job summary and the results artifact${uploaded ? ` (${artifactName})` : ""}`,
  );
  if (report.status !== "succeeded")
    annotations.fail(
      `kto: ${report.status}: ${report.jobs
        .filter((j) => j.status !== "succeeded")
        .map((j) => `${j.name} ${j.status}`)
        .join(", ")}`,
    );
}

/**
 * What of the results folder the results artifact leaves out: a build's make output dir
 * and its outputs, which its own artifact carries; its log and manifest stay.
 */
function buildOutputsOf(results: readonly { result: RunResult; dir: string }[]): (path: string, isDirectory: boolean) => boolean {
  const dirs = results.filter((r) => r.result.build).map((r) => join(r.dir, r.result.build!.dir));
  const kept = new Set([BUILD_LOG, MANIFEST, DIAGNOSTICS]);
  return (path, isDirectory) => dirs.some((dir) => path.startsWith(`${dir}/`) && (isDirectory || !kept.has(path.slice(dir.length + 1))));
}

/**
 * Every case of the job, for the App's history: as many as the report has room for beside
 * the `reportBytes` the rest of it takes, the rest counted. The App reads at most 5 MB of a
 * report: one that did not fit would be refused, and the job's end lost with it.
 */
function reportedCases(result: RunResult, reportBytes: number) {
  const all = caseResults(result.results);
  return casesWithin(all.cases, all.casesOmitted, Math.max(0, Math.min(REPORTED_CASES_BYTES, REPORT_BYTES - reportBytes)));
}
