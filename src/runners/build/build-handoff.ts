import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { BuildOutputFile } from "../../config/job-spec.js";
import { sha256 } from "../artifacts.js";
import { JobError, JobInputError } from "../errors.js";
import { spawnProcess } from "../exec.js";
import type { BuildOutputs } from "../types.js";

/** A build's outputs are missing or not what the build made: lost or damaged on the way, so another try may do better. */
export class BuildHandoffError extends JobError {
  override readonly name = "BuildHandoffError";
  readonly fault = "host";
}

/**
 * Checks every file of a build's outputs against the digest the build recorded, before
 * anything boots them: each must be a regular file (not a symlink) of that size and hash.
 */
export async function checkBuildOutputs(outputs: BuildOutputs): Promise<void> {
  for (const file of outputs.files) {
    const problem = await fileProblem(outputs.dir, file);
    if (problem) throw new BuildHandoffError(`the build's ${file.path} ${problem}`);
  }
}

/** Why a copy of one output is not the file the build made, or null when it is. */
export async function fileProblem(dir: string, file: BuildOutputFile): Promise<string | null> {
  const info = await lstat(join(dir, file.path)).catch(() => null);
  if (!info) return "is missing";
  if (!info.isFile()) return "is not a regular file";
  if (info.size !== file.size) return `has ${info.size} bytes, the build made ${file.size}`;
  const digest = await sha256(join(dir, file.path));
  return digest === file.sha256 ? null : `has sha256 ${digest}, the build made ${file.sha256}`;
}

/** The output a QEMU job's field names: only a file the build handed on, so nothing else of the dir is read. */
export function namedOutput(field: string, name: string, outputs: BuildOutputs): BuildOutputFile {
  const file = outputs.files.find((f) => f.path === name);
  if (!file) throw new JobInputError(field, name, `not among the build's outputs (${outputs.files.map((f) => f.path).join(", ")})`);
  return file;
}

/**
 * A build's modules archive unpacked into `into`, as the directory of the one kernel
 * release it holds. Symlinks are removed after unpacking, as modules_install's `build`
 * and `source` links point back into the tree and nothing the guest gets may lead out.
 */
export async function unpackModules(archive: string, into: string): Promise<string | null> {
  await mkdir(into, { recursive: true });
  const tar = await spawnProcess("tar", ["--no-same-owner", "--no-same-permissions", "-xzf", archive, "-C", into]).done;
  if (tar.exitCode !== 0) throw new BuildHandoffError(`the build's modules archive could not be unpacked: ${tar.stderr.data.toString("utf8").trim()}`);
  await removeSymlinks(into);
  const modules = join(into, "lib", "modules");
  const releases = await readdir(modules).catch(() => []);
  return releases.length === 1 ? join(modules, releases[0]!) : null;
}

async function removeSymlinks(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) await rm(path);
    else if (entry.isDirectory()) await removeSymlinks(path);
  }
}
