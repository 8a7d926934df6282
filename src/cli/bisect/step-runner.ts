import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../config/errors.js";
import type { Plan } from "../../config/job-spec.js";
import type { LoadedConfig } from "../../config/load-config.js";
import type { Store } from "../../orchestrator/store/store.js";
import type { ExecutorFactory } from "../../runners/factory.js";
import { readResultsSet } from "../../runners/history/results-set.js";
import { isFailing } from "../../runners/history/test-identity.js";
import type { RunReport } from "../../runners/report/run-report.js";
import { runPlanLocally } from "../local-run.js";
import { refuseMissingTreeFiles } from "../tree-check.js";
import { addWorktree, removeWorktree } from "./revisions.js";
import type { RunRecord } from "./state.js";

/** How many failing tests a run's reason names. */
const NAMED = 3;

export class Interrupted extends Error {
  override readonly name = "Interrupted";
}

export interface StepRunnerOptions {
  /** The repository's top directory: where git is run. */
  repo: string;
  loaded: LoadedConfig;
  plan: Plan;
  /** `--test`, compiled; null to judge by the suites failing. */
  test: ((text: string) => boolean) | null;
  store: Store;
  factory: ExecutorFactory;
  signal: AbortSignal;
  /** Called with the worktree a step checked out, and null once it is gone, so a second interrupt can remove it on the way out. */
  onWorktree: (dir: string | null) => void;
}

/** One commit checked out in a worktree of its own, to run the plan there as often as its step needs. */
export class StepCheckout {
  private constructor(
    private readonly options: StepRunnerOptions,
    private readonly home: string,
    readonly tree: string,
  ) {}

  static async open(options: StepRunnerOptions, hash: string): Promise<StepCheckout> {
    const home = await mkdtemp(join(tmpdir(), "kto-bisect-"));
    const tree = join(home, "tree");
    options.onWorktree(tree);
    try {
      await addWorktree(options.repo, tree, hash);
    } catch (error) {
      await removeWorktree(options.repo, tree).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
      options.onWorktree(null);
      throw error;
    }
    return new StepCheckout(options, home, tree);
  }

  async close(): Promise<void> {
    await removeWorktree(this.options.repo, this.tree);
    await rm(this.home, { recursive: true, force: true });
    this.options.onWorktree(null);
  }

  /** Runs the plan once at this commit, as kto run would, and judges it; the results are read, then removed. */
  async run(attempt: number): Promise<RunRecord> {
    if (this.options.signal.aborted) throw new Interrupted("interrupted");
    const started = Date.now();
    const seconds = () => Math.round((Date.now() - started) / 100) / 10;
    try {
      await refuseMissingTreeFiles(this.options.loaded, this.tree, this.options.plan.jobs);
    } catch (error) {
      // A build reading a file this commit lacks cannot be built here: git bisect would skip it.
      if (error instanceof ConfigError) return { verdict: "broken", reason: `does not build: ${error.message.split("\n")[0]}`, seconds: seconds() };
      throw error;
    }
    const out = join(this.home, `results-${attempt}`);
    const { store, factory, signal } = this.options;
    try {
      const report = await runPlanLocally(this.options.plan, this.tree, out, { store, factory, concurrency: 1, signal });
      if (signal.aborted) throw new Interrupted("interrupted");
      return { ...(await this.judge(report, out)), seconds: seconds() };
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }

  private async judge(report: RunReport, out: string): Promise<Omit<RunRecord, "seconds">> {
    const builds = report.jobs.filter((job) => job.runner === "build" && job.status !== "succeeded");
    if (builds.length > 0) return { verdict: "broken", reason: `does not build: build ${builds[0]!.name} ${builds[0]!.status}: ${builds[0]!.reason}` };
    const unbuilt = report.jobs.filter((job) => job.status === "skipped");
    if (unbuilt.length > 0) return { verdict: "broken", reason: `does not build: ${unbuilt[0]!.name} skipped: ${unbuilt[0]!.reason}` };
    const results = await readResultsSet(out);
    const { test } = this.options;
    if (test) {
      const matched = [...results.cases.values()].filter((c) => test(c.id) || test(c.path));
      if (matched.length === 0) {
        const gap = results.gaps[0];
        const ran = [...results.cases.values()].map((c) => c.id);
        return { verdict: "unjudged", reason: gap ? `no test matched: ${gap.reason}` : `no test matched; the tests that ran: ${named(ran)}` };
      }
      const failing = matched.filter((c) => isFailing(c.status));
      return failing.length === 0
        ? { verdict: "pass", reason: `${matched.length} matching tests passed` }
        : { verdict: "fail", reason: named(failing.map((c) => `${c.id} ${c.status}`)) };
    }
    const suites = report.jobs.filter((job) => job.runner !== "build");
    const gap = results.gaps[0];
    if (gap) return { verdict: "unjudged", reason: gap.reason };
    const failed = suites.filter((job) => job.status !== "succeeded");
    return failed.length === 0
      ? { verdict: "pass", reason: `${suites.length} jobs succeeded` }
      : { verdict: "fail", reason: named(failed.map((job) => `${job.name} ${job.status}`)) };
  }
}

function named(items: string[]): string {
  return items.length > NAMED ? `${items.slice(0, NAMED).join(", ")} and ${items.length - NAMED} more` : items.join(", ");
}
