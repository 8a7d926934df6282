import type { CheckedRequest } from "./shape.js";
import { page } from "./pages.js";

/** A commit as the double keeps it: its parents (the first is the branch it was made on) and what `git log` shows. */
export interface Commit {
  parents: string[];
  message: string;
  author: string;
  date: string;
}

interface CommitGraph {
  /** `owner/repo@sha` → the commit. */
  commits: Map<string, Commit>;
  /** `owner/repo@ref` → commit sha. */
  refs: Map<string, string>;
}

type Handler = (request: CheckedRequest, state: CommitGraph) => { status: number; body: unknown; headers?: Record<string, string> };

const repoOf = (request: CheckedRequest) => `${request.params.owner}/${request.params.repo}`;

function resolve(state: CommitGraph, repo: string, ref: string): string | null {
  const sha = state.refs.get(`${repo}@${ref}`) ?? ref;
  return state.commits.has(`${repo}@${sha}`) ? sha : null;
}

/** The commit and its ancestors, nearest first, as GitHub lists a branch's history (parents breadth first, each once). */
function history(state: CommitGraph, repo: string, from: string): string[] {
  const seen = new Set<string>([from]);
  const order: string[] = [];
  const queue = [from];
  while (queue.length > 0) {
    const sha = queue.shift()!;
    order.push(sha);
    for (const parent of state.commits.get(`${repo}@${sha}`)?.parents ?? [])
      if (!seen.has(parent)) {
        seen.add(parent);
        queue.push(parent);
      }
  }
  return order;
}

function commitBody(state: CommitGraph, repo: string, sha: string) {
  const commit = state.commits.get(`${repo}@${sha}`)!;
  return {
    sha,
    commit: { message: commit.message, author: { name: commit.author, email: `${commit.author}@example.com`, date: commit.date } },
    parents: commit.parents.map((parent) => ({ sha: parent })),
  };
}

/**
 * A repository's commit graph, for the two reads kto makes of it: a branch's history from a
 * commit (`GET /repos/{owner}/{repo}/commits?sha=`) and a comparison's merge base
 * (`GET /repos/{owner}/{repo}/compare/{base}...{head}`). A commit the test never made is
 * GitHub's 404 (listing) or 404 (compare), as GitHub answers for an unknown ref.
 */
export const COMMIT_HANDLERS: Record<string, Handler> = {
  "repos/list-commits": (request, state) => {
    const repo = repoOf(request);
    const ref = new URL(request.url, "http://x").searchParams.get("sha") ?? "HEAD";
    const from = resolve(state, repo, ref);
    if (!from) return { status: 404, body: { message: "No commit found for SHA: " + ref } };
    const { items, headers } = page(
      request,
      history(state, repo, from).map((sha) => commitBody(state, repo, sha)),
    );
    return { status: 200, body: items, headers };
  },
  "repos/compare-commits": (request, state) => {
    const repo = repoOf(request);
    // GitHub's path names it `basehead` (or `base...head` on older descriptions): read it off the path either way.
    const basehead = decodeURIComponent(new URL(request.url, "http://x").pathname.split("/compare/")[1] ?? "");
    const [baseRef, headRef] = basehead.split("...");
    if (headRef === undefined) return { status: 404, body: { message: "Not Found" } };
    const base = resolve(state, repo, baseRef!);
    const head = resolve(state, repo, headRef);
    if (!base || !head) return { status: 404, body: { message: "Not Found" } };
    const ofBase = new Set(history(state, repo, base));
    const headHistory = history(state, repo, head);
    const mergeBase = headHistory.find((sha) => ofBase.has(sha));
    if (!mergeBase) return { status: 404, body: { message: `No common ancestor between ${baseRef} and ${headRef}.` } };
    const ahead = headHistory.slice(0, headHistory.indexOf(mergeBase));
    const behind = history(state, repo, base).indexOf(mergeBase);
    return {
      status: 200,
      body: {
        url: "",
        html_url: "",
        permalink_url: "",
        diff_url: "",
        patch_url: "",
        base_commit: commitBody(state, repo, base),
        merge_base_commit: commitBody(state, repo, mergeBase),
        status: ahead.length && behind ? "diverged" : ahead.length ? "ahead" : behind ? "behind" : "identical",
        ahead_by: ahead.length,
        behind_by: behind,
        total_commits: ahead.length,
        // Oldest first, as GitHub lists a comparison's commits, and at most 250 of them.
        commits: [...ahead]
          .reverse()
          .slice(0, 250)
          .map((sha) => commitBody(state, repo, sha)),
        files: [],
      },
    };
  },
};
