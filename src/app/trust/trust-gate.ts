import type { ImposedCaps } from "../../config/limits.js";
import type { PlanRecord } from "../../orchestrator/store/store.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import type { Octokit } from "../github/github-api.js";
import { holdReason, type Policy, type PullRequestFacts } from "./trust.js";

/**
 * The one trust gate. A plan reaches the hardware only with a GateDecision, and only this
 * module makes one: its brand is a symbol no other module can name, so an entry point added
 * later cannot plan a commit without asking here first.
 */
const DECIDED: unique symbol = Symbol("a decision of kto's trust gate");
/** Likewise for a writer: only the permission API's answer, asked here, makes one. */
const ASKED: unique symbol = Symbol("write access, as GitHub's permission API answered");

/**
 * Whether the plan runs now or its jobs wait for a maintainer's approval; a held plan is
 * bounded by the base branch's job caps (`imposed`), a trusted one by its own config's.
 */
type Verdict = { readonly trusted: true; readonly imposed: null } | { readonly trusted: false; readonly imposed: ImposedCaps };

export type GateDecision = Verdict & {
  readonly [DECIDED]: true;
  /** Why: kept with the plan, and shown to the maintainers who can approve one held. */
  readonly reason: string;
};

/** Someone GitHub said, when asked, can write to a repository. */
export interface Writer {
  readonly [ASKED]: true;
  readonly login: string;
  readonly repo: string;
}

const runs = (reason: string): GateDecision => Object.freeze({ [DECIDED]: true as const, trusted: true as const, reason, imposed: null });
const waits = (reason: string, imposed: ImposedCaps): GateDecision => Object.freeze({ [DECIDED]: true as const, trusted: false as const, reason, imposed });

/**
 * Whether `login` can write to the repository, as GitHub says now. A comment's
 * author_association cannot tell: MEMBER is any member of the organisation, COLLABORATOR
 * includes read-only collaborators. The legacy `permission` folds maintain into write and
 * triage into read, so write and admin are the roles that qualify.
 */
export async function writerOf(octokit: Octokit, owner: string, repo: string, login: string): Promise<Writer | null> {
  try {
    const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username: login });
    return data.permission === "write" || data.permission === "admin" ? Object.freeze({ [ASKED]: true as const, login, repo: `${owner}/${repo}` }) : null;
  } catch (error) {
    // GitHub's answer for a user it does not know.
    if (httpStatusOf(error) === 404) return null;
    throw error;
  }
}

/** A pull request's head, under the base branch's policy: it runs when the author is trusted and the head is the repository's own. */
export function pullRequestGate(pr: PullRequestFacts, policy: Policy): GateDecision {
  const held = holdReason(pr, policy);
  if (held !== null) return waits(held, policy.limits);
  return runs(`its author is ${pr.authorAssociation}, trusted by the base branch, and its head is in ${pr.baseRepo} itself`);
}

/** What a writer asked for at a commit they saw or named: `/kto retest`, a re-run. */
export function askedByWriter(writer: Writer, what: string): GateDecision {
  return runs(`@${writer.login}, who can write to ${writer.repo}, ${what}`);
}

/**
 * A run request. It passes by GitHub's own rules, recorded here rather than skipped: GitHub
 * accepts a repository_dispatch only from a token that can write to the repository's
 * contents, and runs a workflow_dispatch only for someone who can write to the repository.
 */
export function dispatchGate(event: "repository_dispatch" | "workflow_dispatch", sender: string): GateDecision {
  const rule =
    event === "repository_dispatch"
      ? "GitHub accepts a repository_dispatch only from a token that can write to the repository"
      : "GitHub runs a workflow_dispatch only for someone who can write to the repository";
  return runs(`@${sender} asked by ${event}, and ${rule}`);
}

/** A pull request's baseline: the job at its merge base, a commit of the base branch, whose code is already there. */
export function baselineGate(branch: string, sha: string): GateDecision {
  return runs(`${sha.slice(0, 7)} is on ${branch}: kto runs it as the baseline its pull requests are compared with`);
}

/** A push to the default branch: only someone who can write to the repository can make one. */
export function pushGate(pusher: string): GateDecision {
  return runs(`@${pusher} pushed to the default branch, which GitHub lets only someone who can write to the repository do`);
}

/**
 * A bisection's steps: commits of the default branch between two of its pushes, which only
 * someone who can write to the repository can make, bisected because such a one asked.
 * The first step takes the Writer GitHub just vouched for; later steps, the bisection that
 * writer started, as the store recorded it.
 */
export function bisectionGate(started: Writer | { startedBy: string; repo: string }, range: { goodSha: string; badSha: string }): GateDecision {
  const login = "login" in started ? started.login : started.startedBy;
  return runs(
    `@${login}, who can write to ${started.repo}, asked to bisect the default branch from ${range.goodSha.slice(0, 7)} to ${range.badSha.slice(0, 7)}, whose commits only writers push`,
  );
}

/** A commit kto planned before stands where that plan stood: trusted, or held for what held it. */
export function plannedGate(plan: Pick<PlanRecord, "trusted" | "gateReason" | "headSha">, policy: Policy): GateDecision {
  const why = plan.gateReason ?? "kto did not record why";
  const commit = plan.headSha?.slice(0, 7) ?? "its commit";
  return plan.trusted ? runs(`kto's plan of ${commit} was trusted: ${why}`) : waits(`kto's plan of ${commit} was not trusted: ${why}`, policy.limits);
}

/** A commit neither a pull request nor a plan of kto's vouches for. */
export function unknownCommitGate(sha: string, policy: Policy): GateDecision {
  return waits(`kto knows of no pull request or plan of ${sha.slice(0, 7)}`, policy.limits);
}

/**
 * A re-run (GitHub's "Re-run" and "Re-run all checks") of a commit whose standing is
 * `standing`. A trusted commit runs again. A held one runs only when the one who pressed can
 * write to the repository: the button names its commit, so that press approves exactly it.
 */
export async function rerunGate(
  standing: GateDecision,
  asker: { octokit: Octokit; owner: string; repo: string; login: string },
  sha: string,
): Promise<GateDecision> {
  if (standing.trusted) return standing;
  const writer = await writerOf(asker.octokit, asker.owner, asker.repo, asker.login);
  if (writer) return askedByWriter(writer, `re-ran ${sha.slice(0, 7)}`);
  return waits(`${standing.reason}; @${asker.login}, who asked for the re-run, cannot write to ${asker.owner}/${asker.repo}`, standing.imposed);
}
