import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { buildPlan } from "../../config/build-plan.js";
import { hostPolicyPath, loadHostPolicy, LOCAL_DEFAULT } from "../../config/host-policy.js";
import type { JobSpec } from "../../config/job-spec.js";
import { KnownIssues, loadKnownIssues } from "../../config/known-issues.js";
import { loadConfigFile } from "../../config/load-config.js";
import { refuseMissingTreeFiles } from "../tree-check.js";
import { openStore } from "../../orchestrator/store/open-store.js";
import { DockerExecutor } from "../../runners/docker-executor.js";
import { ExecutorFactory } from "../../runners/factory.js";
import { ownerMark } from "../../runners/leftovers.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { newPlanId, resumePlan, runPlanLocally } from "../local-run.js";
import { ProgressView } from "../progress.js";
import { judgeAgainstBaseline, judgeByKnownIssues, readBaseline } from "../run-verdict.js";
import { printErr, printOut, stderrIsTerminal } from "../terminal.js";

export interface RunOptions {
  suite: string[];
  out: string;
  jobs: string;
  workspace: string;
  progress: "auto" | "live" | "plain";
  resume?: string | boolean;
  /** Known issues: failures they cover do not fail the run. */
  known?: string;
  /** A results folder to compare with: the run fails on regressions only, as `kto compare` judges. */
  baseline?: string;
}

export function dataDir(): string {
  return resolve(process.env.KTO_DATA_DIR ?? ".kto");
}

/** No record of the last plan means no earlier run; any other failure to read it is said as it is. */
function noEarlierRun(error: NodeJS.ErrnoException): string {
  if (error.code === "ENOENT") return "";
  throw error;
}

export async function runCommand(file: string, options: RunOptions): Promise<number> {
  const concurrency = Number(options.jobs);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--jobs: expected a whole number of at least 1, got "${options.jobs}"`);
  // Read before anything runs: a bad known-issues file is the command line's fault, and runs nothing.
  const known = options.known ? await loadKnownIssues(options.known, true) : null;
  const baseline = options.baseline ? await readBaseline(options.baseline) : null;
  const loaded = options.resume ? null : await loadConfigFile(file);
  const plan = loaded ? buildPlan(loaded, { suites: options.suite.length ? options.suite : undefined }) : null;
  if (loaded && plan) await refuseMissingTreeFiles(loaded, resolve(options.workspace), plan.jobs);

  await mkdir(dataDir(), { recursive: true });
  const store = await openStore({ dataDir: dataDir() });
  const lastPlanFile = join(dataDir(), "last-plan");
  try {
    let planId: string;
    let specs: JobSpec[];
    if (plan) {
      planId = newPlanId();
      specs = plan.jobs;
      await writeFile(lastPlanFile, `${planId}\n`);
    } else {
      planId = typeof options.resume === "string" ? options.resume : (await readFile(lastPlanFile, "utf8").catch(noEarlierRun)).trim();
      if (!planId) throw new UsageError(`--resume: no earlier run in ${dataDir()}`);
      specs = (await store.jobs.list({ planId })).map((job) => job.spec);
      if (specs.length === 0) throw new UsageError(`--resume: no plan ${planId} in ${dataDir()}`);
    }

    // The developer owns this machine: without a policy file of its own it grants what stays inside the container.
    const owner = ownerMark();
    const docker = new DockerExecutor({ owner, policy: () => loadHostPolicy(hostPolicyPath(), LOCAL_DEFAULT) });
    // Leftovers of runs killed before their cleanup go when Docker answers; without it the
    // docker jobs themselves fail, saying why.
    if (specs.some((job) => job.runner !== "qemu")) await docker.sweepOrphans().catch(() => 0);
    const factory = new ExecutorFactory({ docker, owner });

    // First Ctrl-C cancels: containers and VMs are stopped and removed, results still written.
    // A second one leaves at once; child process groups are killed on the way out.
    const abort = new AbortController();
    let interrupts = 0;
    const onSignal = () => {
      interrupts += 1;
      if (interrupts === 1) {
        printErr("\nkto: cancelling; press Ctrl-C again to quit at once\n");
        abort.abort();
      } else process.exit(130);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);

    const live = options.progress === "live" || (options.progress === "auto" && stderrIsTerminal() && !process.env.CI);
    const view = new ProgressView(specs, live);
    try {
      const runOptions = {
        store,
        factory,
        concurrency,
        signal: abort.signal,
        onJobStart: (jobId: string) => view.started(jobId),
        onJobEnd: (jobId: string, result: Parameters<ProgressView["finished"]>[1]) => view.finished(jobId, result),
        onProgress: (event: Parameters<ProgressView["event"]>[0]) => view.event(event),
      };
      const report = plan
        ? await runPlanLocally(plan, resolve(options.workspace), resolve(options.out), runOptions, planId)
        : await resumePlan(planId, runOptions);
      view.stop();
      const t = report.totals.tests;
      const outDir = (await store.plans.plan(planId))?.outDir ?? options.out;
      printOut(
        `kto: ${report.status}: ${report.jobs.length} jobs, ${t.passed} tests passed, ${t.failed} failed, ${t.errored} errored, ${t.skipped} skipped\n` +
          `kto: results in ${outDir}/summary.md (run ${planId})\n`,
      );
      if (baseline) {
        const verdict = await judgeAgainstBaseline(outDir, baseline, known ?? KnownIssues.none());
        printOut(verdict.text);
        return verdict.exit;
      }
      if (known) {
        const verdict = await judgeByKnownIssues(outDir, known);
        printOut(verdict.text);
        return verdict.exit;
      }
      return report.status === "succeeded" ? EXIT.ok : EXIT.failed;
    } finally {
      view.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  } finally {
    await store.close();
  }
}
