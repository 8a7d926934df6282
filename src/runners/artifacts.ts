import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { copyFile, lstat, mkdir, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { glob } from "tinyglobby";

export interface ArtifactEntry {
  /** Path relative to the job's output dir. */
  path: string;
  /** Where it came from: the job's own output (logs, results dir) or the workspace. */
  source: "job" | "workspace";
  size: number;
  sha256: string;
}

export interface ArtifactRoots {
  /** The job's output dir: logs and the results dir the job wrote. */
  jobDir: string;
  workspace: string;
}

/** A glob that could reach outside its root; such patterns are refused, not trimmed. */
export function unsafePattern(pattern: string): string | null {
  if (isAbsolute(pattern)) return "absolute paths are not allowed";
  if (pattern.split(/[\\/]/).includes("..")) return "'..' is not allowed";
  return null;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}

export async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Collects every regular file matching the globs from the job's output dir and the
 * workspace. Symlinks are not followed and never collected, so nothing outside the two
 * roots is read. Workspace files are copied under `artifacts/workspace/`.
 */
export async function collectArtifacts(patterns: readonly string[], roots: ArtifactRoots): Promise<{ entries: ArtifactEntry[]; refused: string[] }> {
  const refused: string[] = [];
  const safe = patterns.filter((pattern) => {
    const problem = unsafePattern(pattern);
    if (problem) refused.push(`${pattern}: ${problem}`);
    return !problem;
  });
  if (safe.length === 0) return { entries: [], refused };

  const entries: ArtifactEntry[] = [];
  const seen = new Set<string>();
  for (const source of ["job", "workspace"] as const) {
    const root = await realpath(source === "job" ? roots.jobDir : roots.workspace);
    const matches = await glob(safe, {
      cwd: root,
      dot: true,
      onlyFiles: true,
      followSymbolicLinks: false,
      expandDirectories: false,
      ignore: source === "job" ? ["artifacts/**"] : [],
    });
    for (const match of matches.sort()) {
      const absolute = join(root, match);
      const stat = await lstat(absolute).catch(() => null);
      if (!stat?.isFile()) continue; // symlinks, sockets, vanished files
      const real = await realpath(absolute);
      if (!inside(root, real)) continue;
      const path = source === "job" ? match : join("artifacts", "workspace", match);
      if (seen.has(path)) continue;
      seen.add(path);
      if (source === "workspace") {
        const target = join(roots.jobDir, path);
        await mkdir(dirname(target), { recursive: true });
        await copyFile(real, target);
      }
      entries.push({ path: path.split(sep).join("/"), source, size: stat.size, sha256: await sha256(real) });
    }
  }
  return { entries, refused };
}
