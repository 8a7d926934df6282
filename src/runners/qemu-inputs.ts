import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { JobInputError } from "./errors.js";
import { hostDir } from "./host-capabilities.js";

/**
 * Directories a suite's kernel, initramfs, disk and modules may come from: the job's
 * workspace, and what the host's operator provides (self-hosted/provision.sh's kernels,
 * or KTO_INPUT_DIRS). A pull request's config must not boot the host's /etc/shadow.
 */
export function allowedInputRoots(workspace: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const operator = (env.KTO_INPUT_DIRS ?? hostDir(env)).split(":").filter(Boolean);
  return [workspace, ...operator];
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * The real path of a job input, after every symlink: refused when it leaves the allowed
 * roots or is not the kind of file the field needs. Errors name the field and the path.
 */
export async function confinedInput(
  field: string,
  path: string,
  options: { workspace: string; kind: "file" | "directory"; roots?: string[] },
): Promise<string> {
  const requested = resolve(options.workspace, path);
  const real = await realpath(requested).catch(() => null);
  if (real === null) throw new JobInputError(field, requested, "no such file");
  const roots = await Promise.all((options.roots ?? allowedInputRoots(options.workspace)).map((root) => realpath(root).catch(() => null)));
  if (!roots.some((root) => root !== null && inside(root, real))) {
    throw new JobInputError(field, requested, `resolves to ${real}, outside the workspace and the host's kernel directories (KTO_INPUT_DIRS)`);
  }
  const info = await stat(real);
  if (options.kind === "file" && !info.isFile()) throw new JobInputError(field, requested, "not a regular file");
  if (options.kind === "directory" && !info.isDirectory()) throw new JobInputError(field, requested, "not a directory");
  return real;
}

/** Whether `path` (already real) stays under `root` (already real). */
export function within(root: string, path: string): boolean {
  return inside(root, path);
}
