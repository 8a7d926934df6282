import { randomBytes } from "node:crypto";
import { PRIORITIES } from "../../config/schema.js";
import { isTerminal } from "../../orchestrator/job-state.js";
import type { ResultHistory } from "../../orchestrator/store/result-history.js";
import type { BisectionRecord, JobReads, JobRecord, PlanRecord, Store } from "../../orchestrator/store/store.js";
import { keyedCases } from "../../runners/history/results-set.js";
import { jobIdentity } from "../../runners/history/test-identity.js";
import { splitRepo, type Octokit, type OctokitFor } from "../github/github-api.js";
import type { BasePolicy } from "../trust/base-policy.js";
import { allowanceOf } from "../trust/trust.js";
import { bisectionGate, type Writer } from "../trust/trust-gate.js";
import { bisectGroupOf, bisectionOf, type Target } from "../webhooks/plan-target.js";
import type { PlanSubmitter } from "../webhooks/plan-submitter.js";
import { bisectOffer, type BisectOffer } from "./bisect-offer.js";
import type { ResultJudge } from "../history/result-judge.js";
import { BISECT_CHECK_RUN, finishedOutput, runningOutput, type BisectionView } from "./bisection-markdown.js";
import {
  begun,
  bisectionStateSchema,
  commitsSchema,
  currentStep,
  judged,
  nextBisectionMove,
  stepVerdict,
  testsSchema,
  type BisectionCommit,
  type BisectionState,
} from "./bisection-state.js";

/** GitHub's compare lists at most this many commits: a longer range is not bisected from a check run. */
export const MAX_RANGE = 250;

/** A range GitHub would not list whole: kto bisects only what it can see. */
export class RangeTooLongError extends Error {
  constructor(readonly commits: number) {
    super(`${commits} commits lie between the last good commit and this one; GitHub lists at most ${MAX_RANGE}, so kto bisect must search them locally`);
    this.name = "RangeTooLongError";
  }
}

export interface BisectorDeps {
  bisections: Store["bisections"];
  history: Pick<ResultHistory, "runOf" | "casesOf">;
  reads: Pick<JobReads, "jobs" | "plans">;
  plans: Pick<PlanSubmitter, "submit">;
  octokitFor: OctokitFor;
  basePolicy: BasePolicy;
  /** Judges the pressed job again: the press is taken only when the job still offers a bisection. */
  judge: Pick<ResultJudge, "judge">;
  serverUrl: string;
  /** The App's public URL when its dashboard is on: the check run links the bisection's page there. */
  dashboardUrl?: string;
  now: () => number;
}

/** Where a press came from: the regression's job and plan, and who pressed, as GitHub vouched. */
export interface BisectPress {
  job: JobRecord;
  plan: PlanRecord;
  offer: BisectOffer;
  writer: Writer;
  octokit: Octokit;
}

/**
 * Bisects a regression of the default branch as plans, one step after the other: each the
 * regressed job's suite at one commit, at the lowest priority, judged by the regressed
 * tests when its job ends. Its `kto / bisect` check run on the bad commit says where it is.
 */
export class Bisector {
  constructor(private readonly deps: BisectorDeps) {}

  /** What bisecting the job would search, when its check run offers it (bisectOffer decides). */
  async offered(job: JobRecord, plan: PlanRecord): Promise<BisectOffer | null> {
    if (!isTerminal(job.state)) return null;
    return bisectOffer(plan, await this.deps.judge.judge(job, plan));
  }

  /** Starts a bisection of the offer; false when one of that job and good commit was asked for before. */
  async start(press: BisectPress): Promise<boolean> {
    const { job, plan, offer, octokit } = press;
    const head = await this.deps.history.runOf(job.id, job.attempt);
    if (!head || !plan.repo || plan.installationId === null) return false;
    const { owner, repo } = splitRepo(plan.repo);
    // By the route GitHub's description calls compare-commits, as the commit ancestry asks it.
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/compare/{base}...{head}", { owner, repo, base: offer.goodSha, head: offer.badSha });
    // The range GitHub lists oldest first; a longer one it cuts, and the bad end would be missing.
    if (data.total_commits > data.commits.length || data.commits.at(-1)?.sha !== offer.badSha) throw new RangeTooLongError(data.total_commits);
    // A good commit that is no ancestor of the bad one (a force push since) bounds no range.
    if (data.status !== "ahead") return false;
    // The branch's own line only, from the bad commit back by first parents: a merged pull
    // request's own commits (its second parent's side) were never the branch's, and a step
    // runs trusted, on the hardware.
    const bySha = new Map(data.commits.map((c) => [c.sha, c]));
    const line: typeof data.commits = [];
    for (let at = bySha.get(offer.badSha); at; at = at.parents[0] ? bySha.get(at.parents[0].sha) : undefined) line.unshift(at);
    if (line[0]?.parents[0]?.sha !== offer.goodSha) return false;
    const commits: BisectionCommit[] = line.map((c) => ({
      sha: c.sha,
      title: c.commit.message.split("\n")[0] ?? "",
      author: c.author?.login ? `@${c.author.login}` : (c.commit.author?.name ?? "unknown"),
    }));
    const first = nextBisectionMove(commits.length, { steps: [] });
    if (first.kind !== "test") return false;
    const state = begun({ steps: [] }, first.position, commits);
    const { record, created } = await this.deps.bisections.create({
      id: randomBytes(6).toString("hex"),
      repo: plan.repo,
      installationId: plan.installationId,
      jobKey: head.jobKey,
      suite: job.spec.suite,
      goodSha: offer.goodSha,
      badSha: offer.badSha,
      tests: JSON.stringify(offer.tests.map((key, i) => ({ key, shown: offer.shown[i] ?? key }))),
      commits: JSON.stringify(commits),
      state: JSON.stringify(state),
      status: "running",
      startedBy: press.writer.login,
      createdAt: this.deps.now(),
    });
    if (!created) {
      // A press of a bisection under way finishes what a failure may have left undone (its
      // check run, its current step), and starts nothing more: both are made once.
      if (record.status !== "running") return false;
      const now = bisectionStateSchema.parse(JSON.parse(record.state));
      const step = currentStep(now);
      if (record.checkRunId === null) await this.openCheckRun(octokit, record, now);
      if (step && step.verdict === null) await this.submitStep(octokit, record, plan.defaultRef, step.sha, bisectionGate(record, record));
      return false;
    }
    await this.openCheckRun(octokit, record, state);
    await this.submitStep(octokit, record, plan.defaultRef, commits[first.position - 1]!.sha, bisectionGate(press.writer, record));
    return true;
  }

  /** The bisection's `kto / bisect` check run, created in progress on its bad commit, its id kept. */
  private async openCheckRun(octokit: Octokit, record: BisectionRecord, state: BisectionState): Promise<void> {
    const { owner, repo } = splitRepo(record.repo);
    const view = this.view(record, state);
    const { data: run } = await octokit.rest.checks.create({
      owner,
      repo,
      name: BISECT_CHECK_RUN,
      head_sha: record.badSha,
      external_id: `bisect:${record.id}`,
      status: "in_progress",
      output: runningOutput(view),
    });
    await this.deps.bisections.setCheckRunId(record.id, run.id);
  }

  /**
   * A job that ended: when it is the job a bisection's step waits for, the step is judged and
   * the next one planned, or the answer told. An end heard twice advances once: the state
   * moves only from the state read, and the next step's plan is submitted once.
   */
  async advance(ended: JobRecord): Promise<void> {
    const plan = await this.deps.reads.plans.plan(ended.planId);
    const id = bisectionOf(plan?.groupKey ?? null);
    if (!plan?.headSha || id === null) return;
    const record = await this.deps.bisections.bisection(id);
    if (!record || record.status !== "running") return;
    const jobs = await this.deps.reads.jobs.list({ planId: plan.id });
    // Its build's failure ends the step too: the job it kept from running is skipped with it.
    const target = jobs.find((j) => j.spec.runner !== "build" && jobIdentity({ suite: j.spec.suite, matrix: j.spec.matrix }) === record.jobKey);
    if (!target || !isTerminal(target.state)) return;
    const state = bisectionStateSchema.parse(JSON.parse(record.state));
    const current = currentStep(state);
    if (current?.sha !== plan.headSha) {
      // This end was judged already: the state moved on, and what it planned may not have gone
      // out (the outbox tries the end again after a failure below). Submitting is idempotent.
      if (current && current.verdict === null && state.steps.some((s) => s.sha === plan.headSha && s.verdict !== null)) {
        const octokit = await this.deps.octokitFor(record.installationId);
        await this.submitStep(octokit, record, plan.defaultRef, current.sha, bisectionGate(record, record));
      }
      return;
    }
    const tests = testsSchema.parse(JSON.parse(record.tests));
    const commits = commitsSchema.parse(JSON.parse(record.commits));
    const { verdict, note } = stepVerdict(
      await this.stepRun(target),
      tests.map((t) => t.key),
    );
    const after = judged(state, plan.headSha, verdict, note)!;
    const move = nextBisectionMove(commits.length, after);
    const next = move.kind === "test" ? begun(after, move.position, commits) : after;
    const status = move.kind === "test" ? "running" : move.kind;
    // The state moves first, from the state read: an end heard twice moves it once, and the
    // next step's job, however soon it ends, finds itself the current step. Should the step's
    // plan fail to go out, the outbox tries this end again, and the branch above sends it
    // (its delivery id is the bisection's and the commit's, so it is planned once).
    if (!(await this.deps.bisections.advance(record.id, record.state, { state: JSON.stringify(next), status }))) return;
    const octokit = await this.deps.octokitFor(record.installationId);
    const view = this.view(record, next);
    if (move.kind === "test") {
      await this.submitStep(octokit, record, plan.defaultRef, commits[move.position - 1]!.sha, bisectionGate(record, record));
      await this.show(octokit, record, { status: "in_progress", output: runningOutput(view) });
    } else await this.show(octokit, record, { status: "completed", conclusion: "neutral", output: finishedOutput(view, move) });
  }

  /** What the step's job said of each test, by identity key. */
  private async stepRun(job: JobRecord) {
    if (job.state === "skipped") return { broken: (job.reason ?? "its build did not succeed").split("\n")[0]!, statuses: new Map() };
    if (job.state === "cancelled" || job.outcome === "infrastructure") return { broken: `${job.state}: ${job.outcome ?? ""}`, statuses: new Map() };
    const run = await this.deps.history.runOf(job.id, job.attempt);
    if (!run) return { broken: "its run sent no test results", statuses: new Map() };
    const cases = keyedCases(run.jobKey, (await this.deps.history.casesOf(run.id)) as { path: string[]; name: string; status: "passed" }[]);
    return { broken: null, statuses: new Map(cases.map((c) => [c.key, c.status as string])) };
  }

  private async submitStep(octokit: Octokit, record: BisectionRecord, defaultRef: string | null, sha: string, gate: ReturnType<typeof bisectionGate>) {
    const { owner, repo } = splitRepo(record.repo);
    const branch = defaultRef ?? "HEAD";
    const policy = await this.deps.basePolicy(octokit, owner, repo, branch);
    const target: Target = {
      octokit,
      installationId: record.installationId,
      repo: record.repo,
      repoPrivate: null,
      owner,
      name: repo,
      headSha: sha,
      defaultRef: branch,
      groupKey: bisectGroupOf(record.repo, record.id),
      // A step is planned once, however often its predecessor's end is reported.
      deliveryId: `bisect:${record.id}:${sha}`,
    };
    await this.deps.plans.submit(target, allowanceOf(policy, "push"), gate, { suites: [record.suite], priority: PRIORITIES.low });
  }

  private async show(
    octokit: Octokit,
    record: BisectionRecord,
    fields: { status: "in_progress" | "completed"; conclusion?: "neutral"; output: { title: string; summary: string } },
  ) {
    if (record.checkRunId === null) return;
    const { owner, repo } = splitRepo(record.repo);
    await octokit.rest.checks.update({ owner, repo, check_run_id: record.checkRunId, ...fields });
  }

  private view(record: BisectionRecord, state: BisectionState): BisectionView {
    return {
      repo: record.repo,
      serverUrl: this.deps.serverUrl,
      suite: record.suite,
      goodSha: record.goodSha,
      badSha: record.badSha,
      shown: testsSchema.parse(JSON.parse(record.tests)).map((t) => t.shown),
      commits: commitsSchema.parse(JSON.parse(record.commits)),
      state,
      startedBy: record.startedBy,
      ...(this.deps.dashboardUrl
        ? { pageUrl: `${this.deps.dashboardUrl}/kto/bisections?${new URLSearchParams({ repo: record.repo, id: record.id }).toString()}` }
        : {}),
    };
  }
}
