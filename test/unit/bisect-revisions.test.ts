import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "@jest/globals";
import { commitRange, resolveCommit, revisionLabel } from "../../src/cli/bisect/revisions.js";
import { withTempDir } from "../helpers/job.js";

const ENV = { ...process.env, GIT_AUTHOR_NAME: "A", GIT_AUTHOR_EMAIL: "a@example.org", GIT_COMMITTER_NAME: "A", GIT_COMMITTER_EMAIL: "a@example.org" };

async function git(cwd: string, ...args: string[]): Promise<string> {
  return (await promisify(execFile)("git", ["-c", "commit.gpgsign=false", ...args], { cwd, env: ENV })).stdout.trim();
}

async function commit(dir: string, name: string): Promise<string> {
  await writeFile(join(dir, name), name);
  await git(dir, "add", "-A");
  await git(dir, "commit", "-q", "-m", name);
  return git(dir, "rev-parse", "HEAD");
}

describe("the commits kto bisect searches", () => {
  it("are bad's first-parent line down to good: a merge is one step, and a good commit the merge brought in is refused", () =>
    withTempDir(async (dir) => {
      await git(dir, "init", "-q", "-b", "main");
      const base = await commit(dir, "base");
      await git(dir, "checkout", "-q", "-b", "topic");
      const side = await commit(dir, "side");
      await git(dir, "checkout", "-q", "main");
      const main1 = await commit(dir, "main1");
      await git(dir, "merge", "-q", "--no-ff", "-m", "merge topic", "topic");
      const merge = await git(dir, "rev-parse", "HEAD");
      const after = await commit(dir, "after");

      expect(await commitRange(dir, base, after)).toEqual([base, main1, merge, after]);
      await expect(commitRange(dir, side, after)).rejects.toThrow("--good is an ancestor of --bad but not on its first-parent line");
      await expect(commitRange(dir, after, base)).rejects.toThrow("--good is not an ancestor of --bad");
      await expect(commitRange(dir, base, base)).rejects.toThrow("--good and --bad name the same commit");
      expect(await resolveCommit(dir, "--bad", "main")).toBe(after);
      await expect(resolveCommit(dir, "--bad", "--all")).rejects.toThrow('--bad: "--all" is not a revision');
      await expect(resolveCommit(dir, "--bad", "nope")).rejects.toThrow('--bad: "nope" names no commit of this repository');
      expect(revisionLabel("--bad", "main", after)).toBe(`--bad main (${after.slice(0, 12)})`);
      expect(revisionLabel("--bad", after.slice(0, 7), after)).toBe(`--bad ${after.slice(0, 12)}`);
    }));
});
