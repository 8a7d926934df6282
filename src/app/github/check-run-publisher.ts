import { isTerminal } from "../../orchestrator/job-state.js";
import type { PriorTries, Publisher } from "../../orchestrator/publisher.js";
import type { ApprovalPhase, JobRecord, PlanRecord, Store } from "../../orchestrator/store/store.js";
import type { JobReport, RunReport } from "../../runners/report/run-report.js";
import { codeSpan, inlineText } from "../../runners/report/markdown.js";
import { STORED_FAILURES, type StoredReport } from "../http/stored-report.js";
import { summaryMarkdown } from "../../runners/report/summary-markdown.js";
import { splitRepo, type Octokit, type OctokitFor } from "./github-api.js";
import { annotationsNotThere, createCheckRun, knownCheckRun, type CheckRunAt, type CheckRunFields, type CheckRunRecord } from "./check-runs-on-github.js";
import { jobAnnotations, type Annotation } from "./check-run-annotations.js";
import { CONCLUSION } from "./check-run-conclusion.js";
import { privilegesOf, privilegesParagraph } from "../trust/job-privileges.js";
import { isPullRequestGroup, isPullRequestHeadGroup } from "../webhooks/plan-target.js";
import { outputTitle, SUMMARY_LIMIT, withinLimit } from "./check-run-limits.js";
import { fallbackOutput, sendOrFallBack, whereResultsAre, type ResultsLinks } from "./check-run-fallback.js";
import { jobsOfSuite, suiteAnnotations, suiteConclusion, suiteExternalId, suiteStatus, suiteSummary, suiteTitle, type SuiteRow } from "./suite-check-run.js";
import { approvalShown, type ApprovalShown, type PlanOfCommit } from "./approval-check-run.js";
import { judgedConclusion, regressionTests, type Judgement, type ResultJudge } from "../history/result-judge.js";
import { judgementMarkdown, judgementTitle, testSpan } from "../history/judgement-markdown.js";
import { errorText } from "../../orchestrator/logger.js";
import { BISECT_ACTION, bisectOffer, STOP_BISECT_ACTION } from "../bisect/bisect-offer.js";
import { maxSteps } from "../bisect/bisection-state.js";

/** "3 passed, 1 failed, …" when the job printed results; null when it did not. */
export function testCountsTitle(tests: JobReport["tests"] | undefined): string | null {
  return tests && tests.total > 0 ? `${tests.passed} passed, ${tests.failed} failed, ${tests.errored} errored, ${tests.skipped} skipped` : null;
}
export function checkRunName(job: Pick<JobRecord, "name">): string {
  return `kto / ${job.name}`;
}

/** The check run of a plan whose jobs wait for approval (a plan may have thousands), and of the end of that wait. */
export const APPROVAL_CHECK_RUN = "kto / approval";

const jobList = (of: readonly JobRecord[]) =>
  of
    .map((j) => `- ${codeSpan(checkRunName(j))} (labels: ${inlineText([j.labels.length ? j.labels.join(", ") : "any", ...privilegesOf(j.spec)].join("; "))})`)
    .join("\n");
const jobCount = (n: number) => `${n} job${n === 1 ? "" : "s"}`;

const FIRST_TRY: PriorTries = { mayHaveLanded: false };

/** One of a plan's approval check runs: where it is on GitHub, and where the store keeps its id. */
interface ApprovalCheckRun {
  at: CheckRunAt;
  record: CheckRunRecord;
}

/** What a finished job's check run shows when GitHub refuses its full output: a title of kto's own words, and where the results are. */
interface Fallback {
  title: string;
  links: ResultsLinks;
}

/** Queued jobs of a suite's check run whose place in the queue is looked up (a read each). */
const POSITIONS_SHOWN = 20;

export interface CheckRunReporterOptions {
  /** The orchestrator's clock: when a create was sent, how long GitHub may take to list it, a queued job's position. */
  now: () => number;
  /** Where links to workflow runs point: https://github.com, or a GitHub Enterprise Server. */
  serverUrl: string;
  /** The App's id: a check run another App made with the same name and external id is not kto's. */
  appId: number | null;
  /** Judges a finished job against its baseline's results; without it, a job's state alone concludes its check run. */
  judge?: Pick<ResultJudge, "judge">;
  /** Where a comparison that could not be made is told. */
  log?: (message: string) => void;
}

/** What the publisher reads of a job and its plan, and where it keeps the check runs' ids. */
export interface CheckRunStore {
  jobs: Pick<Store["jobs"], "job" | "list" | "queuePosition" | "setCheckRunId" | "markCheckRunRequested">;
  plans: Pick<Store["plans"], "plan" | "plansAt" | "setApprovalCheckRunId" | "markApprovalCheckRunRequested">;
}

/**
 * Keeps one check run per job true to the store: queued with its position and the labels
 * it waits for, in progress with a link to the workflow run, then completed with the
 * summary, annotations (50 per request) and a button to re-run it.
 */
export class CheckRunPublisher implements Publisher {
  constructor(
    private readonly store: CheckRunStore,
    private readonly octokitFor: OctokitFor,
    private readonly options: CheckRunReporterOptions,
  ) {}

  async publishJob(job: JobRecord, prior: PriorTries = FIRST_TRY): Promise<void> {
    // Until it is approved, a job shows only in its plan's approval check run.
    if (job.state === "awaiting_approval") return this.publishPlan(job.planId);
    if (job.spec.checkRun === "suite") return this.publishSuite(job.planId, job.spec.suite);
    const plan = await this.store.plans.plan(job.planId);
    if (!plan?.installationId || !plan.repo || !plan.headSha) return;
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    const at = { owner, repo, sha: plan.headSha, name: checkRunName(job), externalId: job.id, appId: this.options.appId };
    const record: CheckRunRecord = {
      id: job.checkRunId,
      requestedAt: job.checkRunRequestedAt,
      setId: (id) => this.store.jobs.setCheckRunId(job.id, id),
      markRequested: (when) => this.store.jobs.markCheckRunRequested(job.id, when),
    };
    const detailsUrl = job.runId !== null ? `${this.options.serverUrl}/${plan.repo}/actions/runs/${job.runId}` : undefined;
    // GitHub shows a check run's buttons only once it has completed: a job under way is cancelled by a comment.
    const cancel = isPullRequestGroup(plan.groupKey) ? `\n\nTo cancel this job alone, comment ${codeSpan(`/kto cancel ${job.name}`)} on the pull request.` : "";
    const body = await this.describe(job, detailsUrl, cancel, plan);
    // A report recorded for an earlier state that finds the job finished leaves the annotations to the finished state's own.
    const stale = prior.recordedFor !== undefined && prior.recordedFor !== job.state;
    let annotations = stale ? [] : body.annotations;
    const id = await knownCheckRun(octokit, at, record, this.options.now);
    // An update sent before whose answer was lost may have added its annotations already.
    if (id !== null && annotations.length > 0 && prior.mayHaveLanded) annotations = await annotationsNotThere(octokit, { owner, repo }, id, annotations);
    const fields = { ...body.fields, output: { ...body.fields.output, annotations } };
    const send = this.sender(octokit, at, record, id);
    // A job's last word must land whatever it says: its conclusion and Re-run button matter more than its summary.
    if (!isTerminal(job.state)) await send(fields);
    else
      await sendOrFallBack(send, fields, (refusal) => ({
        ...fields,
        output: { ...fallbackOutput(refusal, fields.output, body.fallback.title, whereResultsAre(body.fallback.links)), annotations: [] },
      }));
  }

  /** Sends a check run's fields: an update of the one GitHub has (`id`), else its one create. */
  private sender(octokit: Octokit, at: CheckRunAt, record: CheckRunRecord, id: number | null) {
    return async (fields: CheckRunFields): Promise<void> => {
      if (id === null) await createCheckRun(octokit, at, record, fields, this.options.now);
      else await octokit.rest.checks.update({ owner: at.owner, repo: at.repo, check_run_id: id, ...fields });
    };
  }

  /**
   * A suite that asked for one check run: created with its first report, its jobs in a
   * table, completed when the last ends, as the worst of them, with the annotations of all
   * (at most 50, sent with the completing update) and a button that re-runs the failed ones.
   */
  private async publishSuite(planId: string, suite: string): Promise<void> {
    const plan = await this.store.plans.plan(planId);
    if (!plan?.installationId || !plan.repo || !plan.headSha) return;
    const jobs = jobsOfSuite(await this.store.jobs.list({ planId }), suite);
    if (jobs.length === 0) return;
    const octokit = await this.octokitFor(plan.installationId);
    const { owner, repo } = splitRepo(plan.repo);
    const at = { owner, repo, sha: plan.headSha, name: checkRunName({ name: suite }), externalId: suiteExternalId(plan.id, suite), appId: this.options.appId };
    const requested = jobs.flatMap((j) => (j.checkRunRequestedAt === null ? [] : [j.checkRunRequestedAt]));
    // Every job of the suite holds its check run's id, so each links to it and a re-run finds it.
    const record: CheckRunRecord = {
      id: jobs.find((j) => j.checkRunId !== null)?.checkRunId ?? null,
      requestedAt: requested.length > 0 ? Math.min(...requested) : null,
      setId: async (id) => {
        for (const j of jobs) await this.store.jobs.setCheckRunId(j.id, id);
      },
      markRequested: async (when) => {
        for (const j of jobs) await this.store.jobs.markCheckRunRequested(j.id, when);
      },
    };
    const status = suiteStatus(jobs);
    const now = this.options.now();
    const rows: SuiteRow[] = [];
    let positions = 0;
    for (const job of jobs) {
      // A queue position costs a read each: the first jobs of a large suite show theirs.
      const position = job.state === "queued" && job.notBefore <= now && positions++ < POSITIONS_SHOWN ? await this.store.jobs.queuePosition(job, now) : null;
      rows.push({ job, position });
    }
    const { annotations: all, omitted } = status === "completed" ? suiteAnnotations(jobs) : { annotations: [], omitted: 0 };
    const notes = [
      ...(omitted > 0 ? [`**${omitted} more annotation${omitted === 1 ? "" : "s"}** than shown (GitHub shows 50 per check run): see each job's results.`] : []),
      ...(status !== "completed" && isPullRequestGroup(plan.groupKey)
        ? [`To cancel one job, comment ${codeSpan("/kto cancel <job>")} on the pull request, with the job's name as listed here.`]
        : []),
    ];
    // Each finished job judged against its baseline, as its own check run would be: the suite is as red as its worst.
    const judgements = new Map<string, Judgement>();
    if (status === "completed")
      for (const job of jobs) {
        const judgement = (job.result as StoredReport | null)?.name ? await this.judged(job, plan) : null;
        if (judgement) judgements.set(job.id, judgement);
      }
    const regressed = [...judgements].filter(([, j]) => j.regressions > 0);
    if (regressed.length > 0)
      notes.unshift(
        regressed
          .slice(0, 10)
          .map(([id, j]) => {
            const tests = regressionTests(j.comparison);
            return `${codeSpan(jobs.find((job) => job.id === id)!.name)}: ${j.regressions} regression${j.regressions === 1 ? "" : "s"}: ${tests
              .slice(0, 5)
              .map((t) => testSpan(t.id))
              .join(", ")}${tests.length > 5 ? ", …" : ""}`;
          })
          .join("\n\n"),
      );
    const conclusion = status === "completed" ? suiteConclusion(jobs, (job) => judgedConclusion(job, judgements.get(job.id))) : undefined;
    const regressions = [...judgements.values()].reduce((sum, j) => sum + j.regressions, 0);
    const body = this.fields({
      status,
      ...(conclusion ? { conclusion } : {}),
      title:
        judgements.size > 0
          ? `${regressions === 0 ? "no regressions" : `${regressions} regression${regressions === 1 ? "" : "s"}`} · ${suiteTitle(jobs)}`
          : suiteTitle(jobs),
      summary: suiteSummary(rows, { serverUrl: this.options.serverUrl, repo: plan.repo }, notes),
      ...(conclusion && conclusion !== "success"
        ? { actions: [{ label: "Re-run failed", identifier: "rerun", description: "Run the suite's failed jobs again" }] }
        : {}),
    });
    const id = await knownCheckRun(octokit, at, record, this.options.now);
    // A completing update may go more than once (a job's last report, then a later one that
    // finds every job ended): GitHub appends annotations, so those it has are not sent again.
    const annotations = id !== null && all.length > 0 ? await annotationsNotThere(octokit, { owner, repo }, id, all) : all;
    const fields = { ...body.fields, output: { ...body.fields.output, annotations } };
    const send = this.sender(octokit, at, record, id);
    if (status !== "completed") await send(fields);
    else
      await sendOrFallBack(send, fields, (refusal) => ({
        ...fields,
        output: {
          ...fallbackOutput(
            refusal,
            fields.output,
            suiteTitle(jobs),
            "Each job's results are in its results artifact, on its workflow run; the dashboard lists every job.",
          ),
          annotations: [],
        },
      }));
  }

  /**
   * A plan whose jobs wait for approval shows as one check run listing them, action
   * required, created completed and never concluded again: while it holds, only its list
   * changes. Its hold ends with a newer check run of the same name (approvalShown decides
   * which), since GitHub keeps a completed check run's conclusion and shows the newest.
   */
  async publishPlan(planId: string): Promise<void> {
    const plan = await this.store.plans.plan(planId);
    if (!plan?.installationId || !plan.repo || !plan.headSha) return;
    const jobs = await this.store.jobs.list({ planId });
    const others: PlanOfCommit[] = [];
    if (!jobs.some((j) => j.state === "awaiting_approval"))
      for (const other of await this.store.plans.plansAt(plan.repo, plan.headSha))
        if (other.id !== plan.id) others.push({ plan: other, jobs: await this.store.jobs.list({ planId: other.id }) });
    const shown = approvalShown(plan, jobs, others);
    if (shown.phase === "none") return;
    const octokit = await this.octokitFor(plan.installationId);
    const hold = this.approvalAt(plan, "hold");
    const holdId = await knownCheckRun(octokit, hold.at, hold.record, this.options.now);
    if (shown.phase === "hold") {
      const fields = this.holdFields(plan.groupKey, shown.waiting);
      // Once made, the hold's conclusion stands: only its list of waiting jobs changes.
      return this.sendApproval(octokit, hold, holdId, holdId === null ? fields : { output: fields.output });
    }
    // Never shown: nothing on the commit to end.
    if (holdId === null) return;
    const end = this.approvalAt(plan, "end");
    if ((await knownCheckRun(octokit, end.at, end.record, this.options.now)) === null) await this.sendApproval(octokit, end, null, this.endFields(shown, jobs));
  }

  /** Sends an approval check run: it lists job names from a pull request's config, so should GitHub refuse that, the count and the conclusion still show. */
  private async sendApproval(
    octokit: Octokit,
    to: ApprovalCheckRun,
    id: number | null,
    fields: CheckRunFields & { output: { title: string; summary: string } },
  ) {
    await sendOrFallBack(this.sender(octokit, to.at, to.record, id), fields, (refusal) => ({
      ...fields,
      // "Not run: <reason>" may quote a reason; the counts are kto's own.
      output: fallbackOutput(refusal, fields.output, fields.output.title.replace(/^Not run: .*/s, "Not run"), "The dashboard lists every job."),
    }));
  }

  /** The plan's approval check run of `phase`: the hold, or the newer one that ends it. */
  private approvalAt(plan: PlanRecord, phase: ApprovalPhase): ApprovalCheckRun {
    const { owner, repo } = splitRepo(plan.repo!);
    const externalId = phase === "hold" ? `plan:${plan.id}` : `plan:${plan.id}:end`;
    return {
      at: { owner, repo, sha: plan.headSha!, name: APPROVAL_CHECK_RUN, externalId, appId: this.options.appId },
      record: {
        id: phase === "hold" ? plan.approvalCheckRunId : plan.approvalEndCheckRunId,
        requestedAt: phase === "hold" ? plan.approvalCheckRunRequestedAt : plan.approvalEndCheckRunRequestedAt,
        setId: (id) => this.store.plans.setApprovalCheckRunId(plan.id, id, phase),
        markRequested: (when) => this.store.plans.markApprovalCheckRunRequested(plan.id, when, phase),
      },
    };
  }

  private holdFields(groupKey: string | null, waiting: readonly JobRecord[]) {
    // A pull request's label and comments approve its head's plan; a re-run's, only a writer's re-run.
    const how = isPullRequestHeadGroup(groupKey)
      ? "A maintainer can comment `/kto ok-to-test` or add the ok-to-test label"
      : "Someone who can write to the repository can run it by pressing the same Re-run button";
    const summary = withinLimit(
      `${waiting[0]!.reason ?? "This pull request needs a maintainer's approval."}\n\n${privilegesParagraph(waiting.map((j) => j.spec))}\n\n${how}; each job then gets a check run of its own.\n\n${jobCount(waiting.length)} waiting:\n\n${jobList(waiting)}`,
      SUMMARY_LIMIT,
      "the dashboard lists every job",
    );
    return this.fields({ status: "completed", conclusion: "action_required", title: `Waiting for approval: ${jobCount(waiting.length)}`, summary }).fields;
  }

  private endFields(shown: Extract<ApprovalShown, { phase: "end" }>, jobs: readonly JobRecord[]) {
    if (shown.end === "approved")
      return this.fields({
        status: "completed",
        conclusion: "success",
        title: `Approved: ${jobCount(shown.approved.length)}`,
        summary: withinLimit(
          `Approved; each job runs as a check run of its own:\n\n${jobList(shown.approved)}`,
          SUMMARY_LIMIT,
          "the dashboard lists every job",
        ),
      }).fields;
    if (shown.end === "runs in another plan")
      return this.fields({
        status: "completed",
        conclusion: "success",
        title: "No longer waiting: a newer plan of this commit runs it",
        summary: withinLimit(
          `A newer plan of this commit runs without waiting for approval; its jobs have check runs of their own. These waited:\n\n${jobList(jobs)}`,
          SUMMARY_LIMIT,
          "the dashboard lists every job",
        ),
      }).fields;
    const reason = jobs.find((j) => j.reason)?.reason ?? "cancelled";
    return this.fields({
      status: "completed",
      conclusion: CONCLUSION.cancelled,
      title: `Not run: ${reason}`,
      summary: withinLimit(`${reason}\n\n${jobList(jobs)}`, SUMMARY_LIMIT, "the dashboard lists every job"),
    }).fields;
  }

  /** The job against its baseline, when it is judged; a comparison that cannot be made leaves the job's state to conclude. */
  private async judged(job: JobRecord, plan: PlanRecord): Promise<Judgement | null> {
    if (!this.options.judge) return null;
    try {
      return await this.options.judge.judge(job, plan);
    } catch (error) {
      this.options.log?.(`kto: job ${job.id}: not compared with its baseline: ${errorText(error)}`);
      return null;
    }
  }

  private async describe(job: JobRecord, detailsUrl: string | undefined, cancel: string, plan: PlanRecord) {
    const repo = plan.repo!;
    const labels = job.labels.length ? job.labels.join(", ") : "any";
    if (job.state === "waiting") {
      const waitingFor = job.reason ?? "waiting for its build";
      return this.fields({
        status: "queued",
        title: `${waitingFor.charAt(0).toUpperCase()}${waitingFor.slice(1)}`,
        summary: `${inlineText(waitingFor)}: it is queued for a runner with labels ${inlineText(labels)} once that build succeeds, and skipped if it does not.${cancel}`,
      });
    }
    if (job.state === "skipped") return this.skipped(job, repo);
    if (job.state === "queued") {
      const now = this.options.now();
      const position = job.notBefore <= now ? await this.store.jobs.queuePosition(job, now) : null;
      return this.fields({
        status: "queued",
        title: position ? `Queued, position ${position}` : "Queued",
        summary: `Waiting for an idle runner with labels: ${labels}.${job.attempt > 1 ? ` Attempt ${job.attempt}.` : ""}${cancel}`,
      });
    }
    if (job.state === "dispatched")
      return this.fields({ status: "queued", title: "Dispatched", summary: `Sent to runner ${job.runnerId}, waiting for it to start.${cancel}`, detailsUrl });
    if (job.state === "running") return this.fields({ status: "in_progress", title: "Running", summary: `Running on ${job.runnerId}.${cancel}`, detailsUrl });
    if (!isTerminal(job.state)) return this.fields({ status: "queued", title: job.state, summary: job.state });

    const report = job.result as StoredReport | null;
    const judgement = report?.name ? await this.judged(job, plan) : null;
    // Finished, and judged only once its baseline has run: the check run waits with it, for GitHub keeps a conclusion once given.
    if (judgement?.waitingForBaseline)
      return this.fields({
        status: "in_progress",
        title: `Finished; waiting for its baseline at ${judgement.waitingForBaseline.slice(0, 7)}`,
        summary: `${testCountsTitle(report?.tests) ?? job.state}. The merge base ${codeSpan(judgement.waitingForBaseline)} has no results of this job yet: kto runs it there, at the lowest priority, and then judges this job against it.`,
        detailsUrl,
      });
    const conclusion = judgedConclusion(job, judgement);
    const counts = testCountsTitle(report?.tests) ?? `${job.state}: ${(job.reason ?? "").split("\n")[0]}`;
    const title = judgement ? `${judgementTitle(judgement)} · ${counts}` : counts;
    let summary = job.reason ?? job.state;
    // A report stored before reports were bounded may list more than a check run shows.
    const failures = regressionsFirst(report?.failures ?? [], judgement);
    const listed = failures.slice(0, STORED_FAILURES);
    const unlisted = (report?.failuresOmitted ?? 0) + failures.length - listed.length;
    if (report?.name) {
      const run: RunReport = {
        schema: "kto.results/v1",
        config: ".github/kto.yml",
        status: job.state,
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        durationMs: report.durationMs,
        jobs: [{ ...report, failures: listed }],
        totals: { jobs: { succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, errored: 0, skipped: 0, [job.state]: 1 }, tests: report.tests },
      };
      summary = summaryMarkdown(run).replace(/\]\(jobs\//g, "](#jobs/");
      if (report.artifactUrl) summary += `\n[Download the logs and results](${report.artifactUrl})\n`;
      // First, where no cut of a long summary can reach it.
      if (unlisted > 0)
        summary = `**${unlisted} more failure${unlisted === 1 ? "" : "s"}** than listed here: see ${report.artifactUrl ? `[the results artifact](${report.artifactUrl})` : "the results artifact"}.\n\n${summary}`;
    }
    // A regression of the default branch may be bisected: what it costs is said before anyone presses.
    const offer = bisectOffer(plan, judgement);
    if (offer && judgement?.baseline) {
      const commits = judgement.baseline.commitsOlder + 1;
      summary = `**Bisect** (the button above) finds which of the ${commits} commits since ${offer.goodSha.slice(0, 7)} broke it: at most ${maxSteps(commits)} runs of this job, one after the other, at the lowest priority. Only someone who can write to the repository can start it (or stop it: **Stop bisect**).\n\n${summary}`;
    }
    if (judgement) summary = `${judgementMarkdown(judgement, { serverUrl: this.options.serverUrl, repo })}\n\n---\n\n${summary}`;
    if (job.flaky) summary = `**Flaky:** passed only on a retry.\n\n${summary}`;
    const annotations = report?.name ? jobAnnotations({ ...report, failures: listed }) : [];
    const rerun = [
      ...(conclusion === "success" ? [] : [{ label: "Re-run failed", identifier: "rerun", description: "Run this job again" }]),
      ...(offer ? [{ ...BISECT_ACTION }, { ...STOP_BISECT_ACTION }] : []),
    ];
    const fallback: Fallback = {
      // Test counts, or the state: kto's own words, where the full title may quote the job's reason.
      title: testCountsTitle(report?.tests) ?? job.state,
      links: [
        ...(report?.artifactUrl ? [{ text: "the results artifact", url: report.artifactUrl }] : []),
        ...(detailsUrl ? [{ text: "the workflow run", url: detailsUrl }] : []),
      ],
    };
    return { ...this.fields({ status: "completed", conclusion, title, summary, actions: rerun, detailsUrl }), annotations, fallback };
  }

  /** A job its build kept from running: the build named, and linked to its check run where that is known. */
  private async skipped(job: JobRecord, repo: string) {
    const why = (job.reason ?? "its build did not succeed").split("\n")[0]!;
    const build = job.needsJobId ? await this.store.jobs.job(job.needsJobId) : null;
    const link = build?.checkRunId ? `\n\nSee [${inlineText(checkRunName(build))}](${this.options.serverUrl}/${repo}/runs/${build.checkRunId}).` : "";
    return this.fields({
      status: "completed",
      conclusion: CONCLUSION.skipped,
      title: `Not run: ${why}`,
      summary: `Not run: ${inlineText(why)}.${link}`,
      actions: [{ label: "Re-run failed", identifier: "rerun", description: "Run this job again" }],
    });
  }

  private fields(options: {
    status: "queued" | "in_progress" | "completed";
    conclusion?: string;
    title: string;
    summary: string;
    actions?: { label: string; identifier: string; description: string }[];
    detailsUrl?: string;
  }) {
    return {
      fields: {
        status: options.status,
        ...(options.conclusion ? { conclusion: options.conclusion as "success" } : {}),
        ...(options.detailsUrl ? { details_url: options.detailsUrl } : {}),
        ...(options.actions ? { actions: options.actions } : {}),
        output: {
          title: outputTitle(options.title),
          summary: withinLimit(options.summary, SUMMARY_LIMIT, "the full summary is in the job's results artifact"),
        },
      },
      annotations: [] as Annotation[],
      fallback: { title: options.status, links: [] } as Fallback,
    };
  }
}

/** A report's failures with the regressions first: GitHub shows the first annotations, and those matter most. */
function regressionsFirst<F extends { path: string[]; name: string }>(failures: readonly F[], judgement: Judgement | null): F[] {
  if (!judgement || judgement.regressions === 0) return [...failures];
  const key = (path: readonly string[], name: string) => JSON.stringify([...path, name]);
  const regressed = new Set(regressionTests(judgement.comparison).map((t) => key(t.identity.path, t.identity.name)));
  const first = failures.filter((f) => regressed.has(key(f.path, f.name)));
  return [...first, ...failures.filter((f) => !regressed.has(key(f.path, f.name)))];
}
