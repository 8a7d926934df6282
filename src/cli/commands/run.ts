import { resolve } from "node:path";
import { buildPlan } from "../../config/build-plan.js";
import { loadConfigFile } from "../../config/load-config.js";
import { DockerRunner } from "../../runners/docker-runner.js";
import { RunnerFactory } from "../../runners/factory.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { runPlanLocally } from "../local-run.js";
import { ProgressView } from "../progress.js";

export interface RunOptions {
  suite: string[];
  out: string;
  jobs: string;
  workspace: string;
  progress: "auto" | "live" | "plain";
}

export async function runCommand(file: string, options: RunOptions): Promise<number> {
  const concurrency = Number(options.jobs);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--jobs: expected a whole number of at least 1, got "${options.jobs}"`);
  const plan = buildPlan(await loadConfigFile(file), { suites: options.suite.length ? options.suite : undefined });

  const docker = new DockerRunner({ owner: DockerRunner.ownerId() });
  if (plan.jobs.some((job) => job.runner === "docker")) await docker.sweepOrphans().catch(() => 0);
  const factory = new RunnerFactory({ docker });

  // First Ctrl-C cancels: containers and VMs are stopped and removed, results still written.
  // A second one leaves at once; child process groups are killed on the way out.
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts === 1) {
      process.stderr.write("\nkto: cancelling; press Ctrl-C again to quit at once\n");
      abort.abort();
    } else process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const live = options.progress === "live" || (options.progress === "auto" && process.stderr.isTTY === true && !process.env.CI);
  const view = new ProgressView(plan.jobs, live);
  try {
    const outDir = resolve(options.out);
    const report = await runPlanLocally(plan, {
      factory,
      workspace: resolve(options.workspace),
      outDir,
      concurrency,
      signal: abort.signal,
      onJobStart: (job) => view.started(job),
      onJobEnd: (job, result) => view.finished(job, result),
      onProgress: (event) => view.event(event),
    });
    view.stop();
    const t = report.totals.tests;
    process.stdout.write(
      `kto: ${report.status}: ${report.jobs.length} jobs, ${t.passed} tests passed, ${t.failed} failed, ${t.errored} errored, ${t.skipped} skipped\n` +
        `kto: results in ${outDir}/summary.md\n`,
    );
    return report.status === "succeeded" ? EXIT.ok : EXIT.failed;
  } finally {
    view.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
