import { copyFile, link, lstat, open, realpath, rm } from "node:fs/promises";
import { join } from "node:path";
import { MODULES_ARCHIVE } from "../../config/build-facts.js";
import type { BuildOutputFile, BuildOutputRole } from "../../config/job-spec.js";
import { sha256 } from "../artifacts.js";
import { within } from "../qemu-inputs.js";
import { STAGING } from "./build-container.js";
import { ARCH_FACTS, type KernelBuildSpec } from "./build-spec.js";

export type OutputRole = BuildOutputRole;
export type OutputFile = BuildOutputFile;

/** Where each output is in make's output dir (relative), and the name it is handed on by. */
export function expectedOutputs(spec: KernelBuildSpec): { from: string; to: string; role: OutputRole }[] {
  const image = ARCH_FACTS[spec.arch].imagePath;
  const outputs: { from: string; to: string; role: OutputRole }[] = [{ from: ".config", to: "config", role: "config" }];
  if (spec.targets.includes("kernel")) {
    outputs.push(
      { from: image, to: image.split("/").pop()!, role: "kernel" },
      { from: "vmlinux", to: "vmlinux", role: "vmlinux" },
      { from: "System.map", to: "System.map", role: "system-map" },
    );
  }
  if (spec.targets.includes("modules")) outputs.push({ from: `${STAGING}/${MODULES_ARCHIVE}`, to: MODULES_ARCHIVE, role: "modules" });
  if (spec.targets.includes("kselftest")) outputs.push({ from: `${STAGING}/kselftest.tar.gz`, to: "kselftest.tar.gz", role: "kselftest" });
  return outputs;
}

/**
 * A file the build wrote, as a path the host may read: the build's container is gone, but
 * what it left is the build's, so a symlink (or a directory swapped for one) pointing out
 * of the output dir is refused, not followed. Null when the file is not there or not safe.
 */
export async function builtFile(objDir: string, relativePath: string): Promise<string | null> {
  const root = await realpath(objDir);
  const real = await realpath(join(root, relativePath)).catch(() => null);
  if (real === null || !within(root, real)) return null;
  const info = await lstat(real);
  return info.isFile() ? real : null;
}

/** Reads up to `max` bytes of a file the build wrote; null when it is missing or not safe. */
export async function readBuiltFile(objDir: string, relativePath: string, max: number): Promise<string | null> {
  const path = await builtFile(objDir, relativePath);
  if (path === null) return null;
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(max);
    const { bytesRead } = await handle.read(buffer, 0, max, 0);
    return buffer.toString("utf8", 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Hands the build's outputs on at the top of `outDir`, each hashed: linked where the
 * filesystem allows (a vmlinux is tens of MiB), copied where it does not.
 * Returns the files found and the outputs the build should have made but did not.
 */
export async function collectOutputs(spec: KernelBuildSpec, objDir: string, outDir: string): Promise<{ files: OutputFile[]; missing: string[] }> {
  const files: OutputFile[] = [];
  const missing: string[] = [];
  for (const output of expectedOutputs(spec)) {
    const source = await builtFile(objDir, output.from);
    if (source === null) {
      missing.push(output.from);
      continue;
    }
    const destination = join(outDir, output.to);
    await rm(destination, { force: true });
    await link(source, destination).catch(() => copyFile(source, destination));
    files.push(await describeFile(outDir, output.to, output.role));
  }
  return { files, missing };
}

export async function describeFile(outDir: string, path: string, role: OutputRole): Promise<OutputFile> {
  const full = join(outDir, path);
  return { path, role, size: (await lstat(full)).size, sha256: await sha256(full) };
}
