/** Runners where GitHub has them, and which repositories' runs GitHub gives them: the model the scheduling properties are checked against. */
import fc from "fast-check";
import { runnerGroupScope } from "../../src/app/github/runner-groups.js";
import { UNRESTRICTED, type RunnerScope } from "../../src/orchestrator/scope.js";

/** Where plans come from: repositories of two organisations, private and public, and a local run. */
export const ORIGINS = [
  { repo: "o1/a", repoPrivate: true },
  { repo: "o1/b", repoPrivate: false },
  { repo: "o1/c", repoPrivate: true },
  { repo: "o2/a", repoPrivate: true },
  { repo: "o2/d", repoPrivate: false },
  { repo: null, repoPrivate: null },
];
const REPOS = ORIGINS.flatMap((o) => o.repo ?? []);

/** Where a runner is, as GitHub sees it: a repository's, an organisation's in a runner group, or a `kto run` machine. */
export type Home =
  | { kind: "repository"; repo: string }
  | { kind: "group"; org: string; visibility: "all" | "selected" | "private"; selected: string[]; allowsPublic: boolean }
  | { kind: "local" };

/**
 * Whether GitHub gives a run of `job`'s repository to a runner at `home`, from GitHub's
 * documentation of runner groups rather than from kto's code: a repository's runner serves
 * it alone; a group's serves the organisation's repositories its visibility names (all,
 * the selected ones, the private ones), public ones only where it allows them. Names
 * compare without case. A local machine runs whatever its own run submitted.
 */
export function githubRoutes(home: Home, job: { repo: string | null; repoPrivate: boolean | null }): boolean {
  if (home.kind === "local") return true;
  if (job.repo === null) return false;
  const repo = job.repo.toLowerCase();
  if (home.kind === "repository") return home.repo.toLowerCase() === repo;
  if (repo.split("/")[0] !== home.org.toLowerCase()) return false;
  const isPublic = job.repoPrivate === false;
  if (isPublic && (!home.allowsPublic || home.visibility === "private")) return false;
  return home.visibility !== "selected" || home.selected.some((named) => named.toLowerCase() === repo);
}

/** The scope kto's pools give a runner at `home`: the App's own conversion of a runner group. */
export function scopeOf(home: Home): RunnerScope {
  if (home.kind === "local") return UNRESTRICTED;
  if (home.kind === "repository") return { kind: "repository", repository: home.repo };
  return runnerGroupScope(home.org, { id: 1, visibility: home.visibility, allows_public_repositories: home.allowsPublic }, home.selected);
}

/** A name as someone may have typed it: GitHub's names do not care for case. */
const spelled = (name: string) => fc.boolean().map((upper) => (upper ? name.toUpperCase() : name));
export const homes: fc.Arbitrary<Home> = fc.oneof(
  fc
    .constantFrom(...REPOS)
    .chain(spelled)
    .map((repo) => ({ kind: "repository" as const, repo })),
  fc.record({
    kind: fc.constant("group" as const),
    org: fc.constantFrom("o1", "o2").chain(spelled),
    visibility: fc.constantFrom("all" as const, "selected" as const, "private" as const),
    selected: fc.subarray(REPOS),
    allowsPublic: fc.boolean(),
  }),
  fc.constant({ kind: "local" as const }),
);
