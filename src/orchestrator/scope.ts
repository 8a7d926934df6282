/**
 * Which repositories' jobs a runner may take. GitHub gives a workflow run only to a
 * runner its repository may use: one registered for that repository, or an organisation's
 * runner whose runner group admits the repository. A job leased to any other runner is
 * never picked up there, and keeps that runner from its own repositories' jobs until the
 * lease runs out; so a runner's scope is as much a part of a match as its labels.
 */
export type RunnerScope =
  /** The machine of a `kto run`: it runs the plan of one local checkout, so there are no repositories to keep apart. */
  | { kind: "unrestricted" }
  /** A scope kto has not learned (a runner group it could not read): no job goes there. */
  | { kind: "none" }
  | { kind: "repository"; repository: string }
  | {
      kind: "organization";
      organization: string;
      /** Every repository of the organisation, or the ones named (owner/name). */
      repositories: "all" | readonly string[];
      /** Whether public ones among them may use it: false keeps to private (and internal) repositories. */
      publicRepositories: boolean;
    };

export const UNRESTRICTED: RunnerScope = { kind: "unrestricted" };
export const NO_REPOSITORY: RunnerScope = { kind: "none" };

/** Where a job comes from, as far as scopes go. */
export interface JobOrigin {
  /** owner/name; null for a local plan. */
  repo: string | null;
  /** Null where kto does not know: taken as public, so a runner kept from public repositories does not take it. */
  repoPrivate: boolean | null;
}

const ownerOf = (repo: string) => repo.slice(0, repo.indexOf("/"));

/** Whether GitHub would give a run of the job's repository to a runner of this scope. Names compare as GitHub's do, without case. */
export function admits(scope: RunnerScope, job: JobOrigin): boolean {
  if (scope.kind === "unrestricted") return true;
  if (scope.kind === "none" || job.repo === null) return false;
  const repo = job.repo.toLowerCase();
  if (scope.kind === "repository") return repo === scope.repository.toLowerCase();
  if (ownerOf(repo) !== scope.organization.toLowerCase()) return false;
  if (job.repoPrivate !== true && !scope.publicRepositories) return false;
  return scope.repositories === "all" || scope.repositories.some((named) => named.toLowerCase() === repo);
}
