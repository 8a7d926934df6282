import { cp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { kernelTree, overlayTree, TEST_CACHE } from "./kernel-tree.js";

export { SHARED_CCACHE } from "./kernel-tree.js";
import { PROJECT_ROOT } from "./local-system.js";

/** The demo's pull request config: a kernel build, the suite that boots it, and suites on Docker and QEMU. */
export async function demoConfig(): Promise<string> {
  return readFile(join(PROJECT_ROOT, "examples", "demo.yml"), "utf8");
}

/**
 * The checkout of the demo's pull request: Debian's kernel tree (an overlay of the shared
 * one, on its file system) with this repository's examples/ beside it, for the suites that
 * run its scripts. Removed by the returned function.
 */
export async function demoWorkspace(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = join(TEST_CACHE, `workspace-${name}-${process.pid}`);
  await rm(dir, { recursive: true, force: true });
  await overlayTree(await kernelTree(), dir);
  await cp(join(PROJECT_ROOT, "examples"), join(dir, "examples"), { recursive: true });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
