import { randomBytes } from "node:crypto";
import { copyFile, link, lstat, mkdir, readdir, rename, rm, utimes } from "node:fs/promises";
import { join } from "node:path";
import type { BuildOutputFile } from "../../config/job-spec.js";
import type { BuildOutputs } from "../types.js";
import { fileProblem } from "./build-handoff.js";

/**
 * A runner host's copies of the builds it made, one file per digest: a job that boots a
 * build made on this host takes them from here instead of downloading its artifact.
 * KTO_BUILD_STORE, or `builds/` in the host's kto directory.
 */
export function buildStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.KTO_BUILD_STORE || join(env.KTO_HOST_DIR ?? "/var/lib/kto", "builds");
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  await link(from, to).catch(() => copyFile(from, to));
}

/** Keeps a build's outputs in the store, each under its digest; one already there is kept as it is. */
export async function keepOutputs(store: string, outputs: BuildOutputs): Promise<void> {
  await mkdir(store, { recursive: true });
  for (const file of outputs.files) {
    if ((await fileProblem(store, { ...file, path: file.sha256 })) === null) {
      await used(store, file);
      continue;
    }
    // Under a name of its own first, so a job reading the store never sees half a file.
    const partial = join(store, `.${file.sha256}.${randomBytes(4).toString("hex")}`);
    await linkOrCopy(join(outputs.dir, file.path), partial);
    await rename(partial, join(store, file.sha256));
  }
}

/**
 * A build's outputs from the store, linked into `into` under their names, or null when
 * one is not there; a copy that no longer matches its digest is removed, not used.
 */
export async function takeOutputs(store: string, files: BuildOutputFile[], into: string): Promise<BuildOutputs | null> {
  for (const file of files) {
    const problem = await fileProblem(store, { ...file, path: file.sha256 });
    if (problem === null) continue;
    await rm(join(store, file.sha256), { force: true });
    return null;
  }
  await mkdir(into, { recursive: true });
  for (const file of files) {
    await used(store, file);
    await rm(join(into, file.path), { force: true });
    await linkOrCopy(join(store, file.sha256), join(into, file.path));
  }
  return { dir: into, files };
}

/** Marks a copy as used now: the store keeps what jobs still boot. */
async function used(store: string, file: BuildOutputFile): Promise<void> {
  const now = new Date();
  await utimes(join(store, file.sha256), now, now);
}

/** How long a copy no job has used stays in the store: a build's dependents run within hours of it. */
export const STORE_KEEP_MS = 7 * 86_400_000;

/** Removes the copies no job has used for `maxAgeMs`, and what a killed copy left half written; returns how many went. */
export async function pruneOutputs(store: string, maxAgeMs = STORE_KEEP_MS, now = Date.now()): Promise<number> {
  let removed = 0;
  for (const name of await readdir(store).catch(() => [])) {
    const info = await lstat(join(store, name)).catch(() => null);
    if (!info || now - info.mtimeMs < maxAgeMs) continue;
    await rm(join(store, name), { force: true });
    removed += 1;
  }
  return removed;
}
