import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { UsageError } from "../exit-codes.js";

/** git, as kto bisect reads history: always by argument list, never through a shell. */

/** More commits than any real bisection needs; ~17 steps would cover them, but listing them is already slow. */
export const MAX_RANGE = 100_000;

export interface CommitInfo {
  hash: string;
  subject: string;
  author: string;
}

/** git refusing what kto bisect asked (a worktree it cannot add, a repository it cannot read): the setup is wrong, nothing was judged. */
export class GitError extends UsageError {}

export async function git(cwd: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("git", [...args], { cwd, maxBuffer: 256 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new GitError(`git ${args.join(" ")}: ${(e.stderr ?? "").trim() || e.message}`);
  }
}

/** Whether git answers yes (exit 0) or no (exit 1); anything else is an error. */
async function gitYes(cwd: string, args: readonly string[]): Promise<boolean> {
  try {
    await promisify(execFile)("git", [...args], { cwd });
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 1) return false;
    throw new GitError(`git ${args.join(" ")}: ${((error as { stderr?: string }).stderr ?? "").trim()}`);
  }
}

/** The repository holding `cwd`: its top directory and the directory its worktrees share (where kto keeps its bisect state). */
export async function repository(cwd: string): Promise<{ top: string; commonDir: string }> {
  const out = await git(cwd, ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"]).catch(() => {
    throw new UsageError(`${cwd} is not in a git repository: run kto bisect in the repository whose history it searches`);
  });
  const [top, commonDir] = out.trim().split("\n");
  return { top: top!, commonDir: commonDir! };
}

export async function resolveCommit(cwd: string, flag: string, rev: string): Promise<string> {
  if (rev.startsWith("-")) throw new UsageError(`${flag}: ${JSON.stringify(rev)} is not a revision`);
  const out = await git(cwd, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`]).catch(() => "");
  if (!out.trim()) throw new UsageError(`${flag}: ${JSON.stringify(rev)} names no commit of this repository`);
  return out.trim();
}

/**
 * The commits from `good` to `bad` along `bad`'s first parents, oldest first, `good` at 0
 * and `bad` last: a merge is one step (the merge that brought a broken branch in is named),
 * so the list is linear whatever the history's shape.
 */
export async function commitRange(cwd: string, good: string, bad: string, labels = { good: "--good", bad: "--bad" }): Promise<string[]> {
  if (good === bad) throw new UsageError(`${labels.good} and ${labels.bad} name the same commit`);
  if (!(await gitYes(cwd, ["merge-base", "--is-ancestor", good, bad])))
    throw new UsageError(`${labels.good} is not an ancestor of ${labels.bad}: a good commit must come before the bad one in its history`);
  const listed = (await git(cwd, ["rev-list", "--first-parent", "--reverse", bad, `^${good}`])).split("\n").filter(Boolean);
  if (listed.length > MAX_RANGE)
    throw new UsageError(`${listed.length} commits from ${labels.good} to ${labels.bad}: more than ${MAX_RANGE}; choose a later good commit`);
  const parent = (await git(cwd, ["rev-parse", `${listed[0]}^`])).trim();
  if (parent !== good)
    throw new UsageError(
      `${labels.good} is an ancestor of ${labels.bad} but not on its first-parent line (it came in by a merge): choose a good commit on that line, e.g. the merge's first parent`,
    );
  return [good, ...listed];
}

/** How a message names a commit the developer gave: as given, and its hash when that was a name. */
export function revisionLabel(flag: string, rev: string, hash: string): string {
  return hash.startsWith(rev) ? `${flag} ${hash.slice(0, 12)}` : `${flag} ${rev} (${hash.slice(0, 12)})`;
}

export async function commitInfo(cwd: string, hash: string): Promise<CommitInfo> {
  const [h, subject, author] = (await git(cwd, ["show", "-s", "--format=%H%x00%s%x00%an <%ae>", hash])).replace(/\n$/, "").split("\0");
  return { hash: h!, subject: subject ?? "", author: author ?? "" };
}

/** Uncommitted changes: bisect never tests them, so a developer who expects them tested is told. */
export async function uncommittedChanges(cwd: string): Promise<string[]> {
  return (await git(cwd, ["status", "--porcelain", "--untracked-files=no"])).split("\n").filter(Boolean);
}

/** A detached worktree of `hash` at `dir`: the developer's checkout, index and HEAD stay as they are. */
export async function addWorktree(cwd: string, dir: string, hash: string): Promise<void> {
  await git(cwd, ["worktree", "add", "--detach", "--force", dir, hash]);
}

export async function removeWorktree(cwd: string, dir: string): Promise<void> {
  await git(cwd, ["worktree", "remove", "--force", "--force", dir]).catch(() => undefined);
  await git(cwd, ["worktree", "prune"]);
}
