import { execFileSync } from "node:child_process";
import { rm, rmdir, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { buildPlan } from "../../config/build-plan.js";
import { hostPolicyPath, loadHostPolicy, LOCAL_DEFAULT } from "../../config/host-policy.js";
import { loadConfigFile } from "../../config/load-config.js";
import { compileTestGlob, TestGlobError } from "../../config/test-glob.js";
import { openStore } from "../../orchestrator/store/open-store.js";
import { DockerExecutor } from "../../runners/docker-executor.js";
import { ExecutorFactory } from "../../runners/factory.js";
import { ownerMark } from "../../runners/leftovers.js";
import { confidence, outcomeJson, outcomeText, stepRow, type BisectOutcome, type StepRow } from "../bisect/report.js";
import { commitInfo, commitRange, repository, resolveCommit, revisionLabel, uncommittedChanges, type CommitInfo } from "../bisect/revisions.js";
import { judgeStep, nextMove, type StepVerdict } from "../../runners/history/bisect-search.js";
import { readState, removeState, writeState, type BisectArgs, type BisectState, type StepRecord } from "../bisect/state.js";
import { Interrupted, StepCheckout, type StepRunnerOptions } from "../bisect/step-runner.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { printErr, printOut } from "../terminal.js";

export interface BisectOptions {
  good: string;
  bad: string;
  suite: string[];
  test?: string;
  runs: string;
  json?: boolean;
  resume?: boolean;
}

/** More runs of one commit than a bisection can afford; flakier tests want a quarantine, not a bisection. */
const MAX_RUNS = 10;
/** The exit status of a command ended by SIGINT, as a shell reports it. */
const INTERRUPTED = 130;

export async function bisectCommand(file: string, options: BisectOptions): Promise<number> {
  const runs = Number(options.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > MAX_RUNS)
    throw new UsageError(`--runs: expected a whole number from 1 to ${MAX_RUNS}, got "${options.runs}"`);
  const test = options.test === undefined ? null : testMatcher(options.test);
  const { top, commonDir } = await repository(process.cwd());
  const good = await resolveCommit(top, "--good", options.good);
  const bad = await resolveCommit(top, "--bad", options.bad);
  const labels = { good: revisionLabel("--good", options.good, good), bad: revisionLabel("--bad", options.bad, bad) };
  const commits = await commitRange(top, good, bad, labels);
  // The config is read once, from the checkout as it is now, so every commit runs the same suites; each commit brings its own files.
  const loaded = await loadConfigFile(file);
  const plan = buildPlan(loaded, { suites: options.suite.length ? options.suite : undefined });

  const dirty = await uncommittedChanges(top);
  if (dirty.length > 0)
    printErr(
      `kto bisect: warning: ${dirty.length} uncommitted changes are not tested: every step checks its commit out in a worktree of its own, and your checkout is left as it is\n`,
    );

  const home = join(commonDir, "kto-bisect");
  const stateFile = join(home, "state.json");
  const args: BisectArgs = { good, bad, config: resolve(file), suites: options.suite, test: options.test ?? null, runs };
  let state: BisectState;
  if (options.resume) {
    state = await readState(stateFile, args);
    printErr(`kto bisect: resuming: ${state.steps.filter((s) => s.runs.length > 0).length} commits tested already\n`);
  } else {
    if (await stat(stateFile).catch(() => null)) printErr("kto bisect: an interrupted bisection's state is replaced (--resume would have continued it)\n");
    state = { version: 1, args, steps: [] };
  }
  await writeState(stateFile, state);
  printErr(
    `kto bisect: ${commits.length - 1} commits after ${good.slice(0, 12)} up to ${bad.slice(0, 12)}; about ${Math.ceil(Math.log2(commits.length - 1))} steps after checking both ends\n`,
  );

  // A store of its own, emptied first: an interrupted run's queued jobs name a worktree that is gone.
  const storeDir = join(home, "store");
  await rm(storeDir, { recursive: true, force: true });
  const store = await openStore({ dataDir: storeDir });
  const owner = ownerMark();
  const docker = new DockerExecutor({ owner, policy: () => loadHostPolicy(hostPolicyPath(), LOCAL_DEFAULT) });
  if (plan.jobs.some((job) => job.runner !== "qemu")) await docker.sweepOrphans().catch(() => 0);

  // First Ctrl-C cancels the run and removes the worktree, keeping the state; a second leaves at once, removing the worktree first.
  const abort = new AbortController();
  let worktree: string | null = null;
  let interrupts = 0;
  const onSignal = () => {
    interrupts += 1;
    if (interrupts === 1) {
      printErr("\nkto bisect: stopping; kto bisect --resume with the same arguments continues (Ctrl-C again to quit at once)\n");
      abort.abort();
      return;
    }
    if (worktree) {
      for (const gitArgs of [
        ["worktree", "remove", "--force", "--force", worktree],
        ["worktree", "prune"],
      ])
        try {
          execFileSync("git", gitArgs, { cwd: top, stdio: "ignore" });
        } catch {
          // Gone already, or git is gone: nothing more can be done on the way out.
        }
    }
    process.exit(INTERRUPTED);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const runner: StepRunnerOptions = {
    repo: top,
    loaded,
    plan,
    test,
    store,
    factory: new ExecutorFactory({ docker, owner }),
    signal: abort.signal,
    onWorktree: (dir) => {
      worktree = dir;
    },
  };
  const infos = new Map<string, CommitInfo>();
  const info = async (hash: string) => infos.get(hash) ?? infos.set(hash, await commitInfo(top, hash)).get(hash)!;
  const verdicts = new Map<number, StepVerdict>();

  /** Runs a commit until its runs settle its verdict; runs recorded before an interrupt count. */
  const settle = async (index: number): Promise<{ verdict: StepVerdict; step: StepRecord }> => {
    const hash = commits[index]!;
    let step = state.steps.find((s) => s.commit === hash);
    if (!step) {
      step = { commit: hash, runs: [] };
      state.steps.push(step);
    }
    let verdict = judgeStep(
      step.runs.map((r) => r.verdict),
      runs,
    );
    const { subject } = await info(hash);
    if (verdict === "more") {
      printErr(`kto bisect: testing ${hash.slice(0, 12)} ${subject}\n`);
      const checkout = await StepCheckout.open(runner, hash);
      try {
        while (verdict === "more") {
          if (abort.signal.aborted) throw new Interrupted("interrupted");
          const record = await checkout.run(step.runs.length + 1);
          step.runs.push(record);
          await writeState(stateFile, state);
          printErr(`kto bisect:   run ${step.runs.length}: ${record.verdict} in ${record.seconds}s: ${record.reason}\n`);
          verdict = judgeStep(
            step.runs.map((r) => r.verdict),
            runs,
          );
        }
      } finally {
        await checkout.close();
      }
    }
    verdicts.set(index, verdict);
    printErr(`kto bisect: ${hash.slice(0, 12)} is ${verdict === "skip" ? "skipped" : verdict}\n`);
    return { verdict, step };
  };

  try {
    const n = commits.length - 1;
    const badStep = await settle(n);
    if (badStep.verdict !== "bad") {
      await removeState(stateFile);
      throw new UsageError(notBad(badStep.step, labels.bad, options.test));
    }
    const goodStep = await settle(0);
    if (goodStep.verdict !== "good") {
      await removeState(stateFile);
      throw new UsageError(notGood(goodStep.step, labels.good));
    }
    let move = nextMove(n, verdicts);
    while (move.kind === "test") {
      await settle(move.index);
      move = nextMove(n, verdicts);
    }

    const rows = new Map<string, StepRow>();
    for (const step of state.steps) {
      const index = commits.indexOf(step.commit);
      const verdict = verdicts.get(index);
      if (verdict) rows.set(step.commit, stepRow(step, await info(step.commit), verdict));
    }
    const steps = state.steps.flatMap((s) => rows.get(s.commit) ?? []);
    let outcome: BisectOutcome;
    if (move.kind === "found") {
      // The search ends only with the culprit bad and its parent good: both were run, and their runs are the final check.
      const culprit = rows.get(commits[move.firstBad]!)!;
      const parent = rows.get(commits[move.firstBad - 1]!)!;
      outcome = {
        firstBad: await info(culprit.commit),
        candidates: null,
        confidence: confidence(culprit, parent),
        confidenceText: `${culprit.failed} of ${culprit.runs} runs failed at the culprit × ${parent.passed} of ${parent.runs} passed at its parent`,
        steps,
      };
    } else {
      const candidates = await Promise.all(move.candidates.map((i) => info(commits[i]!)));
      outcome = { firstBad: null, candidates, confidence: null, confidenceText: "", steps };
    }
    await removeState(stateFile);
    printOut(options.json ? outcomeJson(outcome) : outcomeText(outcome));
    return outcome.firstBad ? EXIT.ok : EXIT.failed;
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    printErr(`kto bisect: interrupted; no worktree is left; kto bisect --resume with the same arguments continues from ${stateFile}\n`);
    return INTERRUPTED;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await store.close();
    await rm(storeDir, { recursive: true, force: true });
    // Gone once empty, as git leaves no BISECT_* file after a reset; kept while it holds a state to resume.
    await rmdir(home).catch(() => undefined);
  }
}

function testMatcher(pattern: string): (text: string) => boolean {
  try {
    return compileTestGlob(pattern);
  } catch (error) {
    if (error instanceof TestGlobError) throw new UsageError(`--test: invalid glob ${JSON.stringify(pattern)}: ${error.message}`);
    throw error;
  }
}

function counts(step: StepRecord): string {
  const passed = step.runs.filter((r) => r.verdict === "pass").length;
  const failed = step.runs.filter((r) => r.verdict === "fail").length;
  return `${passed} of ${step.runs.length} runs passed, ${failed} failed`;
}

function unjudgedReason(step: StepRecord): string | null {
  return step.runs.find((r) => r.verdict === "broken" || r.verdict === "unjudged")?.reason ?? null;
}

function notBad(step: StepRecord, at: string, test: string | undefined): string {
  const broken = step.runs.find((r) => r.verdict === "broken");
  if (broken) return `${at} cannot be tested: it ${broken.reason}; choose a bad commit that builds`;
  const unjudged = unjudgedReason(step);
  if (unjudged && test !== undefined) return `--test ${JSON.stringify(test)} matches no test at ${at}: ${unjudged}`;
  if (unjudged) return `${at} cannot be judged: ${unjudged}`;
  if (step.runs.every((r) => r.verdict === "pass")) return `${at} passes (${counts(step)}): a bad commit must fail${test === undefined ? "" : ` ${test}`}`;
  return `${at} fails only sometimes (${counts(step)}): raise --runs, or choose a commit that fails reliably`;
}

function notGood(step: StepRecord, at: string): string {
  const broken = step.runs.find((r) => r.verdict === "broken");
  if (broken) return `${at} cannot be tested: it ${broken.reason}; choose a good commit that builds`;
  const unjudged = unjudgedReason(step);
  if (unjudged) return `${at} cannot be judged: ${unjudged}`;
  return `${at} fails (${counts(step)}): a good commit must pass every run; choose an older one`;
}
