import { randomBytes } from "node:crypto";
import { PRIORITIES } from "../../config/schema.js";
import { isTerminal } from "../../orchestrator/job-state.js";
import type { ResultHistory } from "../../orchestrator/store/result-history.js";
import type { OrchestratorService } from "../../orchestrator/service.js";
import type { BisectionRecord, BisectionStatus, JobReads, JobRecord, PlanRecord, Store } from "../../orchestrator/store/store.js";
import { keyedCases } from "../../runners/history/results-set.js";
import { jobIdentity } from "../../runners/history/test-identity.js";
import { splitRepo, type Octokit, type OctokitFor } from "../github/github-api.js";
import type { BasePolicy } from "../trust/base-policy.js";
import { allowanceOf } from "../trust/trust.js";
import { bisectionGate, type GateDecision, type Writer } from "../trust/trust-gate.js";
import { bisectGroupOf, bisectionOf, type Target } from "../webhooks/plan-target.js";
import type { PlanSubmitter, Submitted } from "../webhooks/plan-submitter.js";
import { bisectOffer, type BisectOffer } from "./bisect-offer.js";
import type { ResultJudge } from "../history/result-judge.js";
import { BisectionCheckRun } from "./bisection-check-run.js";
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

/** Reads of a bisection a Cancel makes while steps' ends keep moving it: each end moves it once. */
const CANCEL_READS = 3;
/** A job's running or cancelled bisections a press of Stop bisect looks through. */
const STOPPABLE_READ = 20;

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
  /** Cancels the jobs of a cancelled bisection's steps. */
  jobs: Pick<OrchestratorService, "cancelPlan">;
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
  private readonly checkRun: BisectionCheckRun;

  constructor(private readonly deps: BisectorDeps) {
    this.checkRun = new BisectionCheckRun(deps);
  }

  /** What bisecting the job would search, when its check run offers it (bisectOffer decides). */
  async offered(job: JobRecord, plan: PlanRecord): Promise<BisectOffer | null> {
    if (!isTerminal(job.state)) return null;
    return bisectOffer(plan, await this.deps.judge.judge(job, plan));
  }

  /**
   * A writer's press of Stop bisect on a regression's check run: the job's bisection from
   * this commit, else its newest running one, cancelled; false when none runs. Found by the
   * job, not by judging it again: a known issue added or a policy changed since may have
   * taken the Bisect offer away, and a bisection under way must still stop. One cancelled
   * whose stop failed half-way (its step's jobs, its check run) is finished by a press again.
   */
  async stopOffered(press: { job: JobRecord; plan: PlanRecord; writer: Writer }): Promise<boolean> {
    const { job, plan, writer } = press;
    const head = plan.repo ? await this.deps.history.runOf(job.id, job.attempt) : null;
    if (!head || !plan.repo) return false;
    const records = await this.deps.bisections.stoppable(plan.repo, head.jobKey, STOPPABLE_READ);
    const record = records.find((r) => r.badSha === plan.headSha) ?? records.find((r) => r.status === "running");
    return record ? this.cancel({ id: record.id, repo: plan.repo, writer }) : false;
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
      const checkRunId = record.checkRunId ?? (await this.checkRun.open(octokit, record, parsed(record.state)));
      await this.planSteps(octokit, { ...record, checkRunId }, record.state, plan.defaultRef, bisectionGate(record, record));
      return false;
    }
    const checkRunId = await this.checkRun.open(octokit, record, state);
    await this.planSteps(octokit, { ...record, checkRunId }, record.state, plan.defaultRef, bisectionGate(press.writer, record));
    return true;
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
    if (!record) return;
    const jobs = await this.deps.reads.jobs.list({ planId: plan.id });
    // Its build's failure ends the step too: the job it kept from running is skipped with it.
    const target = jobs.find((j) => j.spec.runner !== "build" && jobIdentity({ suite: j.spec.suite, matrix: j.spec.matrix }) === record.jobKey);
    if (!target || !isTerminal(target.state)) return;
    const octokit = await this.deps.octokitFor(record.installationId);
    // Its end (or its cancel) was stored, and its check run may not have been told: told
    // again, the same, whenever one of its steps' jobs ends (a cancel ends them).
    if (record.status !== "running") return this.checkRun.ended(octokit, record);
    const state = parsed(record.state);
    const current = currentStep(state);
    if (current?.sha !== plan.headSha) {
      // This end was judged already: the state moved on, and what it planned may not have gone
      // out (the outbox tries the end again after a failure below). Submitting is idempotent.
      if (current && current.verdict === null && state.steps.some((s) => s.sha === plan.headSha && s.verdict !== null))
        await this.planSteps(octokit, record, record.state, plan.defaultRef, bisectionGate(record, record));
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
    const next = JSON.stringify(move.kind === "test" ? begun(after, move.position, commits) : after);
    const status: BisectionStatus = move.kind === "test" ? "running" : move.kind;
    // The state moves first, from the state read: an end heard twice moves it once, and the
    // next step's job, however soon it ends, finds itself the current step. Should the step's
    // plan fail to go out, the outbox tries this end again, and the branch above sends it
    // (its delivery id is the bisection's and the commit's, so it is planned once).
    if (!(await this.deps.bisections.advance(record.id, record.state, { state: next, status }))) return;
    const moved = { ...record, state: next, status };
    if (move.kind !== "test") return this.checkRun.ended(octokit, moved);
    await this.checkRun.running(octokit, moved, parsed(next));
    await this.planSteps(octokit, moved, next, plan.defaultRef, bisectionGate(record, record));
  }

  /**
   * A writer's press of the running check run's Cancel: the bisection stops where it is (its
   * status and who cancelled it, in one write from the state read), its step's jobs are
   * cancelled, and its check run says what the steps had learnt. A press of one that ended
   * changes nothing; of one cancelled already, it finishes what a failure left undone.
   */
  async cancel(press: { id: string; repo: string; writer: Writer }): Promise<boolean> {
    // A step's end may move the state between the read and the write: read again.
    for (let read = 0; read < CANCEL_READS; read++) {
      const record = await this.deps.bisections.bisection(press.id);
      if (!record || record.repo !== press.repo) return false;
      if (record.status === "cancelled") {
        await this.stop(record);
        return false;
      }
      if (record.status !== "running") return false;
      const state = JSON.stringify({ ...parsed(record.state), cancelledBy: press.writer.login });
      if (await this.deps.bisections.advance(record.id, record.state, { state, status: "cancelled" })) {
        await this.stop({ ...record, state, status: "cancelled" });
        return true;
      }
    }
    return false;
  }

  /** A cancelled bisection's step jobs cancelled, and its check run completed, cancelled. */
  private async stop(record: BisectionRecord): Promise<void> {
    await this.cancelSteps(record);
    await this.checkRun.ended(await this.deps.octokitFor(record.installationId), record);
  }

  /** The jobs of a bisection's step plans that have not ended. */
  private async cancelSteps(record: BisectionRecord): Promise<void> {
    const group = bisectGroupOf(record.repo, record.id);
    const reason = `@${parsed(record.state).cancelledBy ?? "someone"} cancelled the bisection`;
    for (const sha of new Set(parsed(record.state).steps.map((s) => s.sha)))
      for (const plan of await this.deps.reads.plans.plansAt(record.repo, sha)) if (plan.groupKey === group) await this.deps.jobs.cancelPlan(plan.id, reason);
  }

  /**
   * Plans the step under way (`raw`, the state as stored). A commit that plans no job to
   * judge it by (no such suite, or no config to read there) is skipped as a failed build is,
   * as `git bisect skip` does, and the next step begun: the state moves first, from the
   * state read, so a failure after it leaves the step to plan (the end that led here is
   * heard again, or the press made again) and no step is planned twice.
   */
  private async planSteps(octokit: Octokit, record: BisectionRecord, raw: string, defaultRef: string | null, gate: GateDecision): Promise<void> {
    const commits = commitsSchema.parse(JSON.parse(record.commits));
    for (let from = raw; ;) {
      const step = currentStep(parsed(from));
      if (!step) return;
      const submitted = await this.submitStep(octokit, record, defaultRef, step.sha, gate);
      if (submitted.kind === "planned") return this.cancelIfCancelled(record);
      const after = judged(parsed(from), step.sha, "skip", submitted.why)!;
      const move = nextBisectionMove(commits.length, after);
      const next = JSON.stringify(move.kind === "test" ? begun(after, move.position, commits) : after);
      const status: BisectionStatus = move.kind === "test" ? "running" : move.kind;
      if (!(await this.deps.bisections.advance(record.id, from, { state: next, status }))) return;
      const moved = { ...record, state: next, status };
      if (move.kind !== "test") return this.checkRun.ended(octokit, moved);
      await this.checkRun.running(octokit, moved, parsed(next));
      from = next;
    }
  }

  /**
   * A Cancel pressed while a step was being planned found no plan of it to cancel: its jobs
   * are cancelled now. Not waited for: a step's end is heard inside the outbox's pass, which
   * a cancel waits to send its effects through. A failure leaves one step to run unheeded.
   */
  private async cancelIfCancelled(record: BisectionRecord): Promise<void> {
    const now = await this.deps.bisections.bisection(record.id);
    if (now?.status === "cancelled") void this.cancelSteps(now).catch(() => undefined);
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

  private async submitStep(octokit: Octokit, record: BisectionRecord, defaultRef: string | null, sha: string, gate: GateDecision): Promise<Submitted> {
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
    return this.deps.plans.submit(target, allowanceOf(policy, "push"), gate, {
      suites: [record.suite],
      priority: PRIORITIES.low,
      // The regressed job alone (and the build it boots): the suite's other jobs say nothing of this regression.
      wants: record.jobKey,
      onlyWanted: true,
    });
  }
}

const parsed = (state: string): BisectionState => bisectionStateSchema.parse(JSON.parse(state));
