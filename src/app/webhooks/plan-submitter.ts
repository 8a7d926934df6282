import { randomBytes } from "node:crypto";
import type { ConfigIssue } from "../../config/errors.js";
import { buildNeeded, type JobSpec } from "../../config/job-spec.js";
import { narrowToBase } from "../../config/narrow-to-base.js";
import type { OrchestratorService } from "../../orchestrator/service.js";
import type { NewJob } from "../../orchestrator/store/store.js";
import { codeSpan, inlineText } from "../../runners/report/markdown.js";
import { annotationMessage, annotationTitle, SUMMARY_LIMIT, withinLimit } from "../github/check-run-limits.js";
import { jobIdentity } from "../../runners/history/test-identity.js";
import { configAtRef, planOf } from "../trust/config-at-sha.js";
import type { GitHubRunnerPool } from "../github/github-runner-pool.js";
import type { Target } from "./plan-target.js";
import type { BaseAllowance } from "../trust/trust.js";
import type { GateDecision } from "../trust/trust-gate.js";

/** What a submit did: the jobs it planned, or why it planned none. */
export type Submitted = { kind: "planned"; specs: JobSpec[] } | { kind: "none"; why: string };

export interface SubmitOptions {
  /** Only these suites. */
  suites?: string[];
  /** Every job's priority, in place of the config's. */
  priority?: number;
  /**
   * The one job (by the key history tells jobs apart by) the caller plans the commit for,
   * a job seen at another commit: a config there without it, or one that cannot be read, is
   * the caller's to tell, so no `kto / config` check run says so, and nothing is submitted.
   */
  wants?: string;
  /** Plans only the job `wants` names and the build it boots, not the rest of its suite. */
  onlyWanted?: boolean;
}

/** Every plan the App makes goes through here, and carries the trust gate's decision for its commit. */
export interface PlanSubmitter {
  /**
   * Reads the config at the commit and submits the plan of its suites that `allowed` (the
   * trigger's, from the base) names and lets have what they ask for; a plan the gate holds
   * waits for approval, bounded by the base branch's job caps.
   */
  submit(target: Target, allowed: BaseAllowance, gate: GateDecision, options?: SubmitOptions): Promise<Submitted>;
  /**
   * Submits jobs already planned (a re-run's), as the gate decided. `reuse` maps a build
   * (by its id in the plan) that is not among `specs` to the store id of an earlier job of
   * it whose outputs the jobs that boot it use.
   */
  submitSpecs(target: Target, specs: JobSpec[], gate: GateDecision, reuse?: ReadonlyMap<string, string>): Promise<void>;
}

function jobsOf(planId: string, specs: JobSpec[], reuse: ReadonlyMap<string, string>): NewJob[] {
  return specs.map((spec) => {
    const build = buildNeeded(spec);
    const reused = build !== undefined && !specs.some((s) => s.id === build) ? reuse.get(build) : undefined;
    return {
      id: `${planId}/${spec.slug}`,
      name: spec.id,
      spec,
      labels: spec.labels,
      priority: spec.priority,
      maxAttempts: 3,
      retries: spec.retries,
      ...(reused === undefined ? {} : { needsJobId: reused }),
    };
  });
}

const none = (why: string): Submitted => ({ kind: "none", why });

/** A config's problems in a line: the first, and how many more. */
function invalidWhy(issues: readonly ConfigIssue[]): string {
  const first = issues[0];
  if (!first) return "its .github/kto.yml is invalid";
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length === 2 ? "" : "s"})` : "";
  return `its .github/kto.yml is invalid: ${first.path ? `${first.path}: ` : ""}${first.message}${more}`;
}

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
      summary: withinLimit(
        issues.map((i) => `- ${codeSpan(`${i.file}:${i.line}:${i.column}`)} ${inlineText(`${i.path ? `${i.path}: ` : ""}${i.message}`)}`).join("\n"),
        SUMMARY_LIMIT,
        "`kto validate` lists every problem",
      ),
      annotations: issues.slice(0, 50).map((i) => ({
        path: i.file,
        start_line: i.line,
        end_line: i.line,
        annotation_level: "failure" as const,
        title: annotationTitle(i.path || "kto.yml"),
        message: annotationMessage(i.message),
      })),
    },
  });
}

export function planSubmitter(deps: {
  service: Pick<OrchestratorService, "submit" | "syncRunners">;
  pool: Pick<GitHubRunnerPool, "track">;
  now: () => number;
}): PlanSubmitter {
  const { service, pool, now } = deps;

  async function submitSpecs(target: Target, specs: JobSpec[], gate: GateDecision, reuse: ReadonlyMap<string, string> = new Map()): Promise<void> {
    if (specs.length === 0) return;
    // Unique even for two events on one commit in the same millisecond.
    const planId = `${target.repo}@${target.headSha.slice(0, 12)}-${now().toString(36)}-${randomBytes(3).toString("hex")}`;
    // A repository seen for the first time brings its runners in now; later, workflow_job
    // events and the periodic sync keep the pool true.
    if (pool.track(target.repo, target.installationId)) await service.syncRunners();
    await service.submit({
      id: planId,
      source: ".github/kto.yml",
      workspace: target.repo,
      repo: target.repo,
      repoPrivate: target.repoPrivate,
      groupKey: target.groupKey,
      installationId: target.installationId,
      headSha: target.headSha,
      defaultRef: target.defaultRef,
      ...(target.baseRef ? { baseRef: target.baseRef } : {}),
      approved: gate.trusted,
      ...(gate.trusted ? {} : { approvalReason: `Waiting for approval: ${gate.reason}.` }),
      gateReason: gate.reason,
      publish: true,
      deliveryId: target.deliveryId,
      now: now(),
      jobs: jobsOf(planId, specs, reuse),
    });
  }

  async function submit(target: Target, allowed: BaseAllowance, gate: GateDecision, options: SubmitOptions = {}): Promise<Submitted> {
    const { wants } = options;
    const config = await configAtRef(target.octokit, target.owner, target.name, target.headSha);
    if (config.kind === "missing") return none("it has no .github/kto.yml");
    if (config.kind === "ok" && wants !== undefined) {
      // A suite the commit's config does not have is no problem of that commit's.
      const absent = (options.suites ?? []).filter((name) => !config.loaded.config.suites.some((suite) => suite.name === name));
      if (absent.length > 0) return none(`its .github/kto.yml plans no job of suite ${absent.join(", ")}`);
    }
    const planned =
      config.kind === "invalid"
        ? config
        : planOf(config.loaded, { ...(options.suites ? { suites: options.suites } : {}), ...(gate.imposed ? { imposed: gate.imposed } : {}) });
    if (planned.kind !== "ok") {
      if (wants === undefined) await configFailure(target, planned.issues);
      return none(invalidWhy(planned.issues));
    }
    const selected = planned.plan.jobs
      .filter((spec) => allowed.suites === "all" || allowed.suites.includes(spec.suite))
      .map((spec) => (options.priority === undefined ? spec : { ...spec, priority: options.priority }))
      // A build's failure is no test's: only suites are run again to confirm.
      .map((spec) => (allowed.retriesAtLeast && spec.runner !== "build" ? { ...spec, retries: Math.max(spec.retries, allowed.retriesAtLeast) } : spec));
    // A suite asking for more than the base allows is a config error of its own, and never dispatched.
    const { allowed: specs, refused } = narrowToBase(planned.loaded, selected, allowed.privileges);
    if (wants !== undefined) {
      const keys = selected.flatMap((spec) => (spec.runner === "build" ? [] : [jobIdentity({ suite: spec.suite, matrix: spec.matrix })]));
      const wanted = (spec: JobSpec) => spec.runner !== "build" && jobIdentity({ suite: spec.suite, matrix: spec.matrix }) === wants;
      if (!keys.includes(wants)) return none(`its .github/kto.yml plans no job ${wants}${keys.length > 0 ? `, only ${keys.join(", ")}` : ""}`);
      if (!specs.some(wanted)) return none(`its .github/kto.yml's job ${wants} asks for more privileges than the default branch allows`);
      if (options.onlyWanted) {
        const builds = new Set(specs.filter(wanted).flatMap((spec) => buildNeeded(spec) ?? []));
        const only = specs.filter((spec) => wanted(spec) || (spec.runner === "build" && builds.has(spec.id)));
        await submitSpecs(target, only, gate);
        return { kind: "planned", specs: only };
      }
    } else if (refused.length > 0) await configFailure(target, refused);
    await submitSpecs(target, specs, gate);
    return { kind: "planned", specs };
  }

  return { submit, submitSpecs };
}
