import { randomBytes } from "node:crypto";
import type { Context, Probot } from "probot";
import type { ConfigIssue } from "../config/errors.js";
import type { JobSpec } from "../config/job-spec.js";
import { CoalescedPass } from "../orchestrator/coalesced-pass.js";
import { isTerminal } from "../orchestrator/job-state.js";
import type { OrchestratorService } from "../orchestrator/service.js";
import type { JobRecord, NewJob, PlanRecord } from "../orchestrator/store/store.js";
import { planSeenBy, reportNotCovered } from "./approval.js";
import { annotationMessage, annotationTitle, SUMMARY_LIMIT, withinLimit } from "./check-run-limits.js";
import { configAtSha } from "./config-at-sha.js";
import type { Octokit } from "./github-api.js";
import { retryReads } from "./github-limits.js";
import { RUNNER_LABEL_PREFIX, type GitHubRunnerPool } from "./github-runner-pool.js";
import { SETUP_CHECK_RUN, showOnboarding } from "./onboarding.js";
import { RUNNER_WORKFLOW_PATH } from "./onboarding-files.js";
import { parseRunRequest, RUN_REQUEST_WORKFLOW_PATH, RunRequestError, shortRef, type RunRequest } from "./run-request.js";
import { approvalNeeded, canWrite, policyAt, type Policy, type SuiteSelection } from "./trust.js";

export interface HandlerDeps {
  service: OrchestratorService;
  pool: GitHubRunnerPool;
  now?: () => number;
  /** Waits on the App's clock: a webhook's read that failed waits this long to try again. */
  sleep?: (ms: number) => Promise<void>;
  /** Counts a failed webhook in the metrics. */
  onError?: (event: string) => void;
}

/**
 * How long the base branch's policy (trust rules, triggers) is taken as read: a busy
 * repository's events share one read of it a minute, and a change to it on the base takes
 * effect within that minute.
 */
export const POLICY_TTL_MS = 60_000;
const POLICIES_CACHED = 1_000;

interface Target {
  octokit: Octokit;
  installationId: number;
  repo: string;
  owner: string;
  name: string;
  headSha: string;
  defaultRef: string;
  groupKey: string;
  /** The webhook delivery that asks for the plan. */
  deliveryId: string;
}

interface EventContext {
  id: string;
  octokit: unknown;
  payload: { installation?: { id: number }; repository?: { full_name: string; name: string; owner: { login: string }; default_branch: string } };
}

/** Where a plan for this event goes: the repository, its installation, the commit and the group it replaces within. */
function targetOf(context: EventContext, headSha: string, groupKey: string, defaultRef?: string): Target {
  const repository = context.payload.repository!;
  return {
    octokit: context.octokit as Octokit,
    installationId: context.payload.installation!.id,
    repo: repository.full_name,
    owner: repository.owner.login,
    name: repository.name,
    headSha,
    defaultRef: defaultRef ?? repository.default_branch,
    groupKey,
    deliveryId: context.id,
  };
}

const groupOf = (repo: string, number: number) => `pr:${repo}#${number}`;

/**
 * A job re-run on its own is a plan in a group of its own, under its plan's group: so it
 * cancels neither its siblings nor, re-run from an older commit, the head's plan (a plan
 * cancels its group's older plans). A push cancels it with the rest of the pull request's
 * older work, and `/kto cancel` reaches it.
 */
const RERUN = " rerun ";
const rerunGroupOf = (groupKey: string, headSha: string, jobName: string) => `${groupKey.split(RERUN)[0]}${RERUN}${headSha} ${jobName}`;
const inGroup = (planGroup: string | null, groupKey: string) => planGroup === groupKey || planGroup?.startsWith(`${groupKey}${RERUN}`) === true;
const UNFINISHED = ["awaiting_approval", "queued", "dispatched", "running"] as const;

/** `/kto <command> [argument]` on a line of its own. */
const COMMAND = /^\/kto\s+(retest|ok-to-test|cancel)\b[ \t]*(.*)$/m;

function jobsOf(planId: string, specs: JobSpec[]): NewJob[] {
  return specs.map((spec) => ({ id: `${planId}/${spec.slug}`, name: spec.id, spec, labels: spec.labels, priority: spec.priority, maxAttempts: 3, retries: spec.retries }));
}

/** The Probot app: GitHub events in, plans and approvals to the orchestrator out. */
export function ktoHandlers(deps: HandlerDeps) {
  const { service, pool } = deps;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const store = service.store;

  /**
   * A delivery handled to the end, or whose plan was made (submitPlan records it with the
   * plan), is not handled again when GitHub redelivers it (same id); one that failed before
   * that is. A webhook has no outbox behind it, so its reads are retried.
   */
  const once = <E extends Context>(handler: (context: E) => Promise<void>) => async (context: E) => {
    if (await store.deliverySeen(context.id)) return;
    retryReads(context.octokit as unknown as Octokit, { attempts: 4, baseDelayMs: 500, maxWaitMs: 120_000, now, sleep });
    await handler(context);
    await store.recordDelivery(context.id, now());
  };

  const policies = new Map<string, { at: number; policy: Promise<Policy> }>();
  /** The base's policy at `ref`, read at most once per POLICY_TTL_MS (a read that fails is not kept). */
  function basePolicy(octokit: Octokit, owner: string, repo: string, ref: string): Promise<Policy> {
    const key = `${owner}/${repo}@${ref}`;
    const cached = policies.get(key);
    if (cached && now() - cached.at < POLICY_TTL_MS) return cached.policy;
    const entry = { at: now(), policy: policyAt(octokit, owner, repo, ref) };
    policies.delete(key);
    policies.set(key, entry);
    entry.policy.catch(() => policies.get(key) === entry && policies.delete(key));
    if (policies.size > POLICIES_CACHED) policies.delete(policies.keys().next().value!);
    return entry.policy;
  }

  // A run that ended without reporting may have lost its runner: the pool is listed again,
  // once for however many such events arrive together.
  const resync = new CoalescedPass(async () => {
    await service.resources.sync();
    service.monitor.wake();
    return 0;
  });

  async function configFailure(target: Target, issues: readonly ConfigIssue[]): Promise<void> {
    await target.octokit.rest.checks.create({
      owner: target.owner,
      repo: target.name,
      name: "kto / config",
      head_sha: target.headSha,
      status: "completed",
      conclusion: "failure",
      output: {
        title: `.github/kto.yml has ${issues.length} problem${issues.length === 1 ? "" : "s"}`,
        summary: withinLimit(issues.map((i) => `- \`${i.file}:${i.line}:${i.column}\` ${i.path ? `${i.path}: ` : ""}${i.message}`).join("\n"), SUMMARY_LIMIT, "`kto validate` lists every problem"),
        annotations: issues.slice(0, 50).map((i) => ({ path: i.file, start_line: i.line, end_line: i.line, annotation_level: "failure" as const, title: annotationTitle(i.path || "kto.yml"), message: annotationMessage(i.message) })),
      },
    });
  }

  /**
   * Reads the config at the commit and submits the plan of its suites that `selection` (the
   * trigger's, from the base) names; untrusted work waits for approval.
   */
  async function submit(target: Target, selection: SuiteSelection, approvalNeeded: string | null, options: { suites?: string[]; priority?: number } = {}): Promise<void> {
    const config = await configAtSha(target.octokit, target.owner, target.name, target.headSha, options.suites);
    if (config.kind === "missing") return;
    if (config.kind === "invalid") return configFailure(target, config.issues);
    const specs = config.plan.jobs
      .filter((spec) => selection === "all" || selection.includes(spec.suite))
      .map((spec) => (options.priority === undefined ? spec : { ...spec, priority: options.priority }));
    await submitSpecs(target, specs, approvalNeeded);
  }

  async function submitSpecs(target: Target, specs: JobSpec[], approvalNeeded: string | null): Promise<void> {
    if (specs.length === 0) return;
    // Unique even for two events on one commit in the same millisecond.
    const planId = `${target.repo}@${target.headSha.slice(0, 12)}-${now().toString(36)}-${randomBytes(3).toString("hex")}`;
    // A repository seen for the first time brings its runners in now; later, workflow_job
    // events and the periodic sync keep the pool true.
    if (pool.track(target.repo, target.installationId)) await service.resources.sync();
    await service.submit({
      id: planId,
      source: ".github/kto.yml",
      workspace: target.repo,
      repo: target.repo,
      groupKey: target.groupKey,
      installationId: target.installationId,
      headSha: target.headSha,
      defaultRef: target.defaultRef,
      approved: approvalNeeded === null,
      ...(approvalNeeded ? { approvalReason: `Waiting for approval: ${approvalNeeded}.` } : {}),
      report: true,
      deliveryId: target.deliveryId,
      now: now(),
      jobs: jobsOf(planId, specs),
    });
  }

  async function approve(jobs: readonly JobRecord[]): Promise<void> {
    for (const job of jobs) await service.lifecycle.approve(job);
    service.monitor.wake();
  }

  const waitingJobs = (planId: string) => store.jobs({ planId, states: ["awaiting_approval"] });

  /** Cancels `repo`'s unfinished jobs that `which` picks; the names of those cancelled. */
  async function cancelWhere(repo: string, which: (plan: PlanRecord, job: JobRecord) => boolean, reason: string): Promise<string[]> {
    const cancelled: string[] = [];
    const plans = new Map<string, Promise<PlanRecord | null>>();
    for (const job of await store.jobs({ states: [...UNFINISHED] })) {
      if (!plans.has(job.planId)) plans.set(job.planId, store.plan(job.planId));
      const plan = await plans.get(job.planId)!;
      if (plan?.repo === repo && which(plan, job) && (await service.lifecycle.cancel(job, reason))) cancelled.push(job.name);
    }
    if (cancelled.length > 0) await service.outbox.deliver();
    return cancelled;
  }

  const cancelGroup = (repo: string, groupKey: string, reason: string) => cancelWhere(repo, (plan) => inGroup(plan.groupKey, groupKey), reason);

  /**
   * `/kto cancel <job>`: that job of the pull request (its check run's name, with or
   * without "kto / "), wherever it is in its life. A name that matches nothing is
   * answered on the pull request's checks with the names that would.
   */
  async function cancelJob(octokit: Octokit, repository: { full_name: string; name: string; owner: { login: string } }, groupKey: string, name: string, login: string): Promise<void> {
    const wanted = name.replace(/^[`'"]|[`'"]$/g, "").replace(/^kto \/ /, "");
    const cancelled = await cancelWhere(repository.full_name, (plan, job) => inGroup(plan.groupKey, groupKey) && job.name === wanted, `cancelled by @${login}`);
    if (cancelled.length > 0) return;
    const latest = await store.latestPlan(groupKey);
    if (!latest?.headSha) return;
    const names = new Set<string>();
    for (const job of await store.jobs({ states: [...UNFINISHED] })) if (inGroup((await store.plan(job.planId))?.groupKey ?? null, groupKey)) names.add(job.name);
    await octokit.rest.checks.create({
      owner: repository.owner.login,
      repo: repository.name,
      name: "kto / cancel",
      head_sha: latest.headSha,
      status: "completed",
      conclusion: "neutral",
      output: {
        title: `/kto cancel ${wanted} by @${login}: no waiting or running job of that name`.slice(0, 200),
        summary: withinLimit(
          names.size > 0 ? `Jobs that can be cancelled now:\n\n${[...names].map((n) => `- \`${n}\``).join("\n")}\n\n\`/kto cancel\` alone cancels them all.` : "No job of this pull request is waiting or running.",
          SUMMARY_LIMIT,
          "the dashboard lists every job",
        ),
      },
    });
  }

  /** A finished job run again on its own, at its commit, as it was planned there. */
  async function rerunJob(context: EventContext, job: JobRecord, plan: PlanRecord & { groupKey: string; headSha: string }): Promise<void> {
    await submitSpecs(targetOf(context, plan.headSha, rerunGroupOf(plan.groupKey, plan.headSha, job.name), plan.defaultRef ?? undefined), [job.spec], null);
  }

  return (app: Probot) => {
    // A failed handler is logged with what to look at and counted; it never stops the App.
    app.onError(async (error) => {
      const event = (error as { event?: { name?: string } }).event?.name ?? "webhook";
      deps.onError?.(event);
      app.log.error({ err: error, event }, `kto: handling ${event} failed; GitHub redelivers it on request (the App's Advanced settings), and /kto/health shows whether GitHub is reachable`);
    });
    app.on(
      ["pull_request.opened", "pull_request.synchronize", "pull_request.reopened"],
      once(async (context) => {
        const pr = context.payload.pull_request;
        const repository = context.payload.repository;
        // The head's own config would let a pull request vouch for itself.
        const policy = await basePolicy(context.octokit as unknown as Octokit, repository.owner.login, repository.name, pr.base.ref);
        // A label already on the pull request approved some earlier commit at most: only adding it approves.
        const gate = approvalNeeded({ authorAssociation: pr.author_association, headRepo: pr.head.repo?.full_name ?? null, baseRepo: repository.full_name, labels: pr.labels.map((l) => l.name) }, policy);
        const groupKey = groupOf(repository.full_name, pr.number);
        await submit(targetOf(context, pr.head.sha, groupKey), policy.triggers.pull_request, gate);
        // The new plan cancelled the older one; a job re-run at an older commit goes with it.
        if (context.payload.action === "synchronize") await cancelWhere(repository.full_name, (plan) => plan.groupKey?.startsWith(`${groupKey}${RERUN}`) === true && plan.headSha !== pr.head.sha, `superseded by ${pr.head.sha.slice(0, 7)}`);
      }),
    );

    app.on(
      "pull_request.labeled",
      once(async (context) => {
        const { pull_request: pr, repository, label, sender } = context.payload;
        if (!label) return;
        const octokit = context.octokit as unknown as Octokit;
        // The label approves the head it was added at, and only while kto holds that head.
        const latest = await store.latestPlan(groupOf(repository.full_name, pr.number));
        if (latest?.headSha !== pr.head.sha) return;
        const waiting = await waitingJobs(latest.id);
        if (waiting.length === 0) return;
        const policy = await basePolicy(octokit, repository.owner.login, repository.name, pr.base.ref);
        if (label.name !== policy.trust.ok_to_test_label) return;
        // Triage can add labels too.
        if (!(await canWrite(octokit, repository.owner.login, repository.name, sender.login))) {
          context.log.info({ repo: repository.full_name, pull: pr.number, sender: sender.login }, `kto: ${label.name} added by @${sender.login}, who cannot write to ${repository.full_name}, approves nothing`);
          return;
        }
        await approve(waiting);
      }),
    );

    app.on(
      "issue_comment.created",
      once(async (context) => {
        const { comment, issue, repository } = context.payload;
        const [, command, argument = ""] = COMMAND.exec(comment.body) ?? [];
        const login = comment.user?.login;
        if (!command || !issue.pull_request || !login) return;
        const octokit = context.octokit as unknown as Octokit;
        const { owner: { login: owner }, name } = repository;
        if (!(await canWrite(octokit, owner, name, login))) {
          context.log.info({ repo: repository.full_name, pull: issue.number, commenter: login }, `kto: /kto ${command} from @${login}, who cannot write to ${repository.full_name}, ignored`);
          return;
        }
        const groupKey = groupOf(repository.full_name, issue.number);
        if (command === "cancel") {
          if (argument.trim()) return cancelJob(octokit, repository, groupKey, argument.trim(), login);
          await cancelGroup(repository.full_name, groupKey, `cancelled by @${login}`);
          return;
        }
        const { data: pr } = await octokit.rest.pulls.get({ owner, repo: name, pull_number: issue.number });
        const latest = await store.latestPlan(groupKey);
        const seen = planSeenBy(latest, pr.head.sha, comment.created_at);
        const notCovered = () => reportNotCovered(octokit, owner, name, { command, login, writtenAt: comment.created_at, headSha: pr.head.sha });
        if (command === "ok-to-test") return seen ? approve(await waitingJobs(seen.id)) : notCovered();
        const policy = await basePolicy(octokit, owner, name, pr.base.ref);
        const target = targetOf(context, pr.head.sha, groupKey);
        if (seen) return submit(target, policy.triggers.pull_request, null);
        const gate = approvalNeeded({ authorAssociation: pr.author_association, headRepo: pr.head.repo?.full_name ?? null, baseRepo: repository.full_name, labels: pr.labels.map((l) => l.name) }, policy);
        if (gate === null) return submit(target, policy.triggers.pull_request, null);
        // A head kto has not planned waits like any other, so that an approval has a plan to name.
        if (latest?.headSha !== pr.head.sha) await submit(target, policy.triggers.pull_request, gate);
        await notCovered();
      }),
    );

    /** A run request names a ref, suites and a priority; a malformed one is logged and changes nothing. */
    async function runRequested(context: Context<"repository_dispatch" | "workflow_dispatch">, source: string, value: unknown): Promise<void> {
      let request: RunRequest;
      try {
        request = parseRunRequest(source, value);
      } catch (error) {
        if (!(error instanceof RunRequestError)) throw error;
        context.log.warn({ repo: context.payload.repository.full_name }, `kto: ignored ${error.message}`);
        return;
      }
      const repository = context.payload.repository;
      const ref = shortRef(request.ref ?? repository.default_branch);
      const { data: commit } = await context.octokit.rest.repos.getCommit({ owner: repository.owner.login, repo: repository.name, ref });
      const policy = await basePolicy(context.octokit as unknown as Octokit, repository.owner.login, repository.name, repository.default_branch);
      await submit(targetOf(context, commit.sha, `dispatch:${repository.full_name}:${ref}`), policy.triggers.dispatch, null, { suites: request.suites, priority: request.priority });
    }

    app.on(
      "repository_dispatch",
      once(async (context) => {
        if (context.payload.action !== "kto-run") return;
        await runRequested(context, "repository_dispatch client_payload", context.payload.client_payload);
      }),
    );

    app.on(
      "workflow_dispatch",
      once(async (context) => {
        // kto's own runner dispatches come back here too; only the "Run kto" workflow asks for a plan.
        if (context.payload.workflow !== RUN_REQUEST_WORKFLOW_PATH) return;
        // An input named ref tests another branch or tag than the one the workflow ran from.
        const inputs = (context.payload.inputs ?? {}) as Record<string, unknown>;
        await runRequested(context, `${RUN_REQUEST_WORKFLOW_PATH} inputs`, { ...inputs, ref: inputs.ref || context.payload.ref });
      }),
    );

    app.on(
      ["check_run.rerequested", "check_run.requested_action"],
      once(async (context) => {
        const run = context.payload.check_run;
        const job = run.external_id ? await store.job(run.external_id) : null;
        if (!job) return;
        const plan = await store.plan(job.planId);
        if (!plan?.repo || !plan.groupKey || !plan.headSha) return;
        // A check run's only button is "Re-run failed": GitHub shows buttons on completed check runs only.
        const action = context.payload.action === "requested_action" ? (context.payload as { requested_action?: { identifier?: string } }).requested_action?.identifier : "rerun";
        if (action !== "rerun" || !isTerminal(job.state)) return;
        await rerunJob(context, job, { ...plan, groupKey: plan.groupKey, headSha: plan.headSha });
      }),
    );

    app.on(
      "check_suite.rerequested",
      once(async (context) => {
        const suite = context.payload.check_suite;
        const repository = context.payload.repository;
        const pull = suite.pull_requests[0];
        const prGroup = pull ? groupOf(repository.full_name, pull.number) : null;
        const latest = prGroup ? await store.latestPlan(prGroup) : null;
        // An older commit's suite re-run goes in a group of its own, as a re-run job does: it
        // must not cancel the plan of the pull request's head.
        const stale = latest?.headSha != null && latest.headSha !== suite.head_sha;
        const groupKey = !prGroup ? `suite:${repository.full_name}:${suite.head_sha}` : stale ? rerunGroupOf(prGroup, suite.head_sha, "(check suite)") : prGroup;
        const policy = await basePolicy(context.octokit as unknown as Octokit, repository.owner.login, repository.name, pull?.base.ref ?? repository.default_branch);
        await submit(targetOf(context, suite.head_sha, groupKey), policy.triggers.pull_request, null);
      }),
    );

    app.on(
      "workflow_job",
      once(async (context) => {
        const wj = context.payload.workflow_job;
        const repo = context.payload.repository.full_name;
        // kto's runs ask for a kto-runner-<name> label; another workflow's job matters only
        // on one of kto's runners, which the payload names. Neither needs a listing.
        const ours = wj.labels.some((label) => label.startsWith(RUNNER_LABEL_PREFIX));
        const runnerId = wj.runner_id ?? null;
        if (!ours && (runnerId === null || pool.environmentOf(repo, runnerId) === null)) return;
        if (ours && context.payload.action === "completed") {
          // A run that ended without a finished report lost its job: an infrastructure failure.
          let lost = false;
          for (const job of await store.jobs({ states: ["dispatched", "running"] })) {
            if (job.runId !== String(wj.run_id)) continue;
            lost = true;
            await service.lifecycle.infrastructureFailure(job, `the workflow run ended (${wj.conclusion}) without a report`);
          }
          if (lost) void resync.run().catch((err: unknown) => context.log.warn({ err }, "kto: listing the runners after a lost run failed; the periodic sync tries again"));
        }
        if (runnerId !== null) {
          const change = await pool.observe({ repo, action: context.payload.action, runnerId, ours });
          if (change) await service.resources.takeOffline(change.gone, change.reason);
        }
        service.monitor.wake();
      }),
    );

    app.on(
      ["installation.deleted", "installation_repositories.removed"],
      once(async (context) => {
        const payload = context.payload as { repositories?: { full_name: string }[]; repositories_removed?: { full_name: string }[] };
        const gone = new Set((payload.repositories ?? payload.repositories_removed ?? []).map((r) => r.full_name));
        for (const repo of gone) pool.untrack(repo);
        // kto can no longer act there: its waiting and running jobs end.
        for (const job of await store.jobs({ states: ["awaiting_approval", "queued", "dispatched", "running"] })) {
          if (job.repo && gone.has(job.repo)) await service.lifecycle.cancel(job, "kto was uninstalled from the repository");
        }
        await service.resources.sync();
      }),
    );

    app.on(
      ["installation.created", "installation_repositories.added"],
      once(async (context) => {
        const payload = context.payload as { installation: { id: number }; repositories?: { full_name: string }[]; repositories_added?: { full_name: string }[] };
        const repos = (payload.repositories ?? payload.repositories_added ?? []).map((r) => r.full_name);
        // One repository kto cannot read (archived, renamed meanwhile) must not keep the rest from being set up.
        const failed: { repo: string; error: unknown }[] = [];
        for (const repo of repos) {
          pool.track(repo, payload.installation.id);
          try {
            const setup = await showOnboarding(context.octokit as unknown as Octokit, repo);
            if (setup !== null) context.log.info({ repo }, `kto: ${repo} has no ${RUNNER_WORKFLOW_PATH}; the ${SETUP_CHECK_RUN} check run on its default branch shows what to add`);
          } catch (error) {
            failed.push({ repo, error });
          }
        }
        await service.resources.sync();
        if (failed.length > 0) {
          throw new AggregateError(
            failed.map((f) => f.error),
            `kto: setting up ${failed.length} of ${repos.length} repositories failed (${failed.map((f) => f.repo).join(", ")}); the others are set up. Each one's error follows; redeliver the webhook once it is fixed`,
          );
        }
      }),
    );
  };
}
