import { ConfigError } from "../../config/errors.js";
import { KNOWN_ISSUES_PATH, KnownIssues, parseKnownIssues } from "../../config/known-issues.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import type { Octokit } from "../github/github-api.js";
import { POLICY_TTL_MS } from "../trust/base-policy.js";
import { policyAt } from "../trust/trust.js";

const BRANCHES_CACHED = 500;

/** What the base branch says about judging results: when a job is red, and which failures are known. */
export interface ResultsPolicy {
  failOn: "regressions" | "failures";
  known: KnownIssues;
  /** Why the known-issues file could not be used (then no failure is known), with its file, line and field. */
  knownProblem: string | null;
}

async function knownIssuesAt(octokit: Octokit, owner: string, repo: string, ref: string): Promise<{ known: KnownIssues; problem: string | null }> {
  let text: string;
  try {
    const { data } = await octokit.rest.repos.getContent({ owner, repo, path: KNOWN_ISSUES_PATH, ref });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data))
      return { known: KnownIssues.none(), problem: `${KNOWN_ISSUES_PATH} on ${ref} is not a file` };
    text = Buffer.from(data.content, "base64").toString("utf8");
  } catch (error) {
    if (httpStatusOf(error) === 404) return { known: KnownIssues.none(), problem: null };
    throw error;
  }
  try {
    return { known: parseKnownIssues(text, KNOWN_ISSUES_PATH), problem: null };
  } catch (error) {
    if (error instanceof ConfigError) return { known: KnownIssues.none(), problem: `${KNOWN_ISSUES_PATH} on ${ref} is invalid: ${error.message}` };
    throw error;
  }
}

/**
 * The base branch's results policy, read at most once a minute per branch: the `results:`
 * of its .github/kto.yml and its .github/kto-known.yml. Always the base's: a pull request
 * that could list its own failures as known would pass itself.
 */
export class ResultsPolicyReader {
  private readonly cache = new Map<string, { at: number; policy: Promise<ResultsPolicy> }>();

  constructor(private readonly now: () => number) {}

  at(octokit: Octokit, owner: string, repo: string, ref: string): Promise<ResultsPolicy> {
    const key = `${owner}/${repo}@${ref}`;
    const cached = this.cache.get(key);
    if (cached && this.now() - cached.at < POLICY_TTL_MS) return cached.policy;
    const policy = (async (): Promise<ResultsPolicy> => {
      const [base, known] = await Promise.all([policyAt(octokit, owner, repo, ref), knownIssuesAt(octokit, owner, repo, ref)]);
      // A base whose config cannot be read says nothing of its policy: every failure counts, as it does for trust.
      return { failOn: base.distrust ? "failures" : base.results.fail_on, known: known.known, knownProblem: known.problem };
    })();
    const entry = { at: this.now(), policy };
    this.cache.delete(key);
    this.cache.set(key, entry);
    policy.catch(() => this.cache.get(key) === entry && this.cache.delete(key));
    if (this.cache.size > BRANCHES_CACHED) this.cache.delete(this.cache.keys().next().value!);
    return policy;
  }
}
