import { resolve } from "node:path";
import { buildPlan } from "../../config/build-plan.js";
import type { BuildJob } from "../../config/job-spec.js";
import { loadConfigFile } from "../../config/load-config.js";
import { refuseMissingTreeFiles } from "../tree-check.js";
import { DockerExecutor } from "../../runners/docker-executor.js";
import { ExecutorFactory } from "../../runners/factory.js";
import { ownerMark } from "../../runners/leftovers.js";
import { UsageError } from "../exit-codes.js";
import { buildsExitCode, buildText, runBuildsHere } from "../local-builds-run.js";
import { ProgressView } from "../progress.js";
import { printErr, printOut, stderrIsTerminal } from "../terminal.js";

export interface BuildOptions {
  build: string[];
  tree: string;
  out: string;
  progress: "auto" | "live" | "plain";
}

/** The builds a command line asks for, by build name or job id; every name must be one. */
export function chosenBuilds(all: readonly BuildJob[], names: readonly string[], file: string): BuildJob[] {
  if (all.length === 0) throw new UsageError(`${file} has no builds: add a builds: list`);
  const unknown = names.filter((name) => !all.some((job) => job.suite === name || job.id === name));
  if (unknown.length > 0) {
    const known = [...new Set(all.map((job) => job.suite))].join(", ");
    throw new UsageError(`--build: ${file} has no build ${unknown.join(", ")} (it has ${known})`);
  }
  return names.length === 0 ? [...all] : all.filter((job) => names.includes(job.suite) || names.includes(job.id));
}

/** `kto build`: the config's builds on this machine, alone, with their outputs left in --out. */
export async function buildCommand(file: string, options: BuildOptions): Promise<number> {
  const loaded = await loadConfigFile(file);
  const plan = buildPlan(loaded);
  const builds = chosenBuilds(
    plan.jobs.filter((job): job is BuildJob => job.runner === "build"),
    options.build,
    file,
  );
  await refuseMissingTreeFiles(loaded, resolve(options.tree), builds);
  const owner = ownerMark();
  const docker = new DockerExecutor({ owner });
  await docker.sweepOrphans().catch(() => 0);
  const factory = new ExecutorFactory({ docker, owner });

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
  const view = new ProgressView(builds, live);
  try {
    const results = await runBuildsHere(builds, {
      factory,
      tree: resolve(options.tree),
      out: resolve(options.out),
      signal: abort.signal,
      onStart: (jobId) => view.started(jobId),
      onProgress: (event) => view.event(event),
      onEnd: (jobId, result) => view.finished(jobId, result),
    });
    view.stop();
    for (const { job, result, dir } of results) printOut(buildText(job, result, dir));
    return buildsExitCode(results);
  } finally {
    view.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
