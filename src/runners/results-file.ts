import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";

/** The same cap as a captured stream: a results file is output the job wrote. */
export const MAX_RESULTS_FILE_BYTES = 16 * 1024 * 1024;

export type ResultsFileRead = { ok: true; text: string } | { ok: false; problem: string };

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * Reads `name` from the results dir, which the job itself wrote: a symlink there could
 * point at any host file, and a FIFO would block kto for ever. So the file must be a
 * regular file reached without leaving the directory, opened without following a final
 * symlink and without waiting for a writer.
 */
export async function readResultsFile(resultsDir: string, name: string): Promise<ResultsFileRead> {
  const path = resolve(resultsDir, name);
  const root = await realpath(resultsDir);
  // A parent that does not resolve cannot be shown to be inside, and is refused as outside.
  const parent = await realpath(dirname(path)).catch(() => null);
  if (!inside(resultsDir, path) || parent === null || !inside(root, parent)) {
    return { ok: false, problem: `results file ${name} is outside the results dir` };
  }
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { ok: false, problem: `results file ${name} was not written` };
    if (code === "ELOOP") return { ok: false, problem: `results file ${name} is a symlink; kto reads only regular files there` };
    return { ok: false, problem: `results file ${name} cannot be read (${code ?? (error as Error).message})` };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { ok: false, problem: `results file ${name} is not a regular file` };
    if (info.size > MAX_RESULTS_FILE_BYTES)
      return { ok: false, problem: `results file ${name} is ${info.size} bytes, over kto's ${MAX_RESULTS_FILE_BYTES}-byte limit` };
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return { ok: true, text: buffer.subarray(0, bytesRead).toString("utf8") };
  } finally {
    await handle.close();
  }
}
