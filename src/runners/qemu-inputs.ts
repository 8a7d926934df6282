import { constants } from "node:fs";
import { open, readlink, realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
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
  const real = await realpath(requested).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
    throw new JobInputError(field, requested, `cannot be resolved (${error.message})`);
  });
  if (real === null) throw new JobInputError(field, requested, "no such file");
  await refuseOutsideRoots(field, requested, real, options);
  const info = await stat(real);
  if (options.kind === "file" && !info.isFile()) throw new JobInputError(field, requested, "not a regular file");
  if (options.kind === "directory" && !info.isDirectory()) throw new JobInputError(field, requested, "not a directory");
  return real;
}

async function refuseOutsideRoots(field: string, requested: string, real: string, options: { workspace: string; roots?: string[] }): Promise<void> {
  // A root that does not exist on this host holds nothing.
  const roots = await Promise.all((options.roots ?? allowedInputRoots(options.workspace)).map((root) => realpath(root).catch(() => null)));
  if (!roots.some((root) => root !== null && inside(root, real))) {
    throw new JobInputError(field, requested, `resolves to ${real}, outside the workspace and the host's kernel directories (KTO_INPUT_DIRS)`);
  }
}

/**
 * A confined file input copied to `destination`, a name kto chose, for QEMU to read
 * instead: QEMU reads more than one file from some paths (a multiboot kernel's `-initrd`
 * is a comma-separated list of modules, each cut at its first space), so a path from a
 * config must never reach it. The copy comes from the file descriptor kto checked: opened
 * without following a final symlink, and its real path asked of the kernel after opening,
 * so swapping a file or a directory for a symlink after the check changes nothing.
 * `source` is the checked real path, for what kto itself looks up beside the input.
 */
export async function stagedInput(
  field: string,
  path: string,
  options: { workspace: string; roots?: string[]; maxBytes: number; destination: string },
): Promise<{ source: string; copy: string }> {
  const real = await confinedInput(field, path, { ...options, kind: "file" });
  const requested = resolve(options.workspace, path);
  const source = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: Error) => {
    throw new JobInputError(field, requested, `cannot be opened (${error.message})`);
  });
  try {
    await refuseOutsideRoots(field, requested, await readlink(`/proc/self/fd/${source.fd}`), options);
    const info = await source.stat();
    if (!info.isFile()) throw new JobInputError(field, requested, "not a regular file");
    const tooBig = () => new JobInputError(field, requested, `larger than kto's ${options.maxBytes}-byte limit for it`);
    if (info.size > options.maxBytes) throw tooBig();
    const target = await open(options.destination, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    // `end` bounds the read even if the file grows after the size was read.
    const input = source.createReadStream({ start: 0, end: options.maxBytes, autoClose: false });
    let copied = 0;
    input.on("data", (chunk) => (copied += chunk.length));
    await pipeline(input, target.createWriteStream());
    if (copied > options.maxBytes) throw tooBig();
    return { source: real, copy: options.destination };
  } finally {
    await source.close();
  }
}

/** Whether `path` (already real) stays under `root` (already real). */
export function within(root: string, path: string): boolean {
  return inside(root, path);
}
