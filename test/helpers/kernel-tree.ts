import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/** Debian's kernel source, installed by scripts/setup.sh. */
export const KERNEL_SOURCE_TARBALL = "/usr/src/linux-source-6.1.tar.xz";

/** Where the kernel-build tests keep what outlives one run: the extracted tree and the ccache. */
export const TEST_CACHE = process.env.KTO_TEST_CACHE ?? join(tmpdir(), "kto-test-cache");

/** The compiler cache the kernel-build tests, the end-to-end test and the demo share: one cold build per machine. */
export const SHARED_CCACHE = join(TEST_CACHE, "ccache");

/**
 * The extracted tree, made once and shared by every run: named by the tarball's size and
 * time, so a new package makes a new tree. Extracted beside it and renamed into place, so
 * a run killed halfway leaves no half tree behind to be taken for a whole one. Tests only
 * read it; one that changes a file does so in a copy (`overlayTree`).
 */
export async function kernelTree(): Promise<string> {
  const tarball = await stat(KERNEL_SOURCE_TARBALL).catch(() => {
    throw new Error(`${KERNEL_SOURCE_TARBALL} is missing: run scripts/setup.sh (it installs linux-source-6.1)`);
  });
  const tree = join(TEST_CACHE, `linux-source-6.1-${tarball.size}-${Math.floor(tarball.mtimeMs)}`);
  if (await stat(join(tree, "Makefile")).catch(() => null)) return tree;
  await mkdir(TEST_CACHE, { recursive: true });
  const partial = `${tree}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial);
  await execa("tar", ["-xf", KERNEL_SOURCE_TARBALL, "-C", partial, "--strip-components=1"]);
  await rename(partial, tree);
  return tree;
}

/** A copy of `tree` whose files are hard links to the shared one: replace a file (never write into it) to change it. */
export async function overlayTree(tree: string, into: string): Promise<string> {
  await execa("cp", ["-al", tree, into]);
  return into;
}

/** Replaces one file of an overlay tree: the link is removed first, so the shared tree keeps its own. */
export async function replaceFile(overlay: string, path: string, contents: string): Promise<void> {
  await rm(join(overlay, path));
  await writeFile(join(overlay, path), contents);
}
