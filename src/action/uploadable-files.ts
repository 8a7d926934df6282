import { constants } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join, relative } from "node:path";

/*
 * A job writes its results folder, so it picks the names in it. @actions/artifact prints
 * the error for a file it cannot read through core.info, unescaped, with the file's path:
 * a name holding `##[` or `::` would be a workflow command in the log, and the failed read
 * ends the action before it reports. So only files kto can read, under names that say
 * nothing to the runner or to the artifact service, are offered to the upload.
 */

export interface Refused {
  /** Relative to the results folder. */
  path: string;
  why: string;
}

// Printable characters only, and none that the artifact service refuses (" : < > | * ? \).
const PLAIN_NAME = /^[\p{L}\p{M}\p{N} !#$%&'()+,\-.;=@[\]^_`{}~]+$/u;

function nameProblem(name: string): string | null {
  if (!PLAIN_NAME.test(name)) return 'its name holds a control character or one of " : < > | * ? \\';
  if (name.includes("##[")) return "its name holds ##[";
  return null;
}

async function readableFile(path: string): Promise<boolean> {
  // O_NONBLOCK: opening a FIFO that was swapped in must not wait for a writer.
  // What cannot be opened so (a symlink, gone, unreadable) is not uploaded.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
  if (!handle) return false;
  try {
    return (await handle.stat()).isFile();
  } finally {
    await handle.close();
  }
}

/** The files under `root` the upload may carry, and what it leaves out and why; symlinks are never followed. `skip` leaves out, unsaid, what another upload carries. */
export async function uploadableFiles(
  root: string,
  skip: (path: string, isDirectory: boolean) => boolean = () => false,
): Promise<{ files: string[]; refused: Refused[] }> {
  const files: string[] = [];
  const refused: Refused[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const problem = nameProblem(entry.name);
      if (skip(relative(root, path), entry.isDirectory())) continue;
      if (problem) refused.push({ path: relative(root, path), why: problem });
      else if (entry.isDirectory()) await walk(path);
      else if (!entry.isFile()) refused.push({ path: relative(root, path), why: "not a regular file" });
      else if (!(await readableFile(path))) refused.push({ path: relative(root, path), why: "cannot be read" });
      else files.push(path);
    }
  };
  await walk(root);
  return { files, refused };
}
