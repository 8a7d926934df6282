import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, rename, rm } from "node:fs/promises";
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
    if ((await fileProblem(store, { ...file, path: file.sha256 })) === null) continue;
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
    await rm(join(into, file.path), { force: true });
    await linkOrCopy(join(store, file.sha256), join(into, file.path));
  }
  return { dir: into, files };
}
