import { realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { ARCH_FACTS } from "./build-facts.js";
import { formatPath, type ConfigIssue } from "./errors.js";
import type { LoadedConfig } from "./load-config.js";

/** Whether `path` (already real) stays under `root` (already real). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * A file of a kernel tree as a build may read it: its real path, or why it may not. The
 * one rule for a fragment, checked before a run and again when the build stages it: a
 * regular file that, every symlink followed, is still inside the tree.
 */
export async function treeFile(realTree: string, path: string): Promise<{ real: string } | { problem: string }> {
  const real = await realpath(join(realTree, path)).catch(() => null);
  if (real === null) return { problem: "no such file in the kernel tree" };
  if (!inside(realTree, real)) return { problem: `resolves to ${real}, outside the kernel tree` };
  if (!(await stat(real)).isFile()) return { problem: "not a regular file" };
  return { real };
}

/**
 * Every fragment of the config's builds (only `builds`, if given) that is not a regular
 * file inside the kernel tree at `tree`, and every `<name>_defconfig` base the tree lacks
 * for the build's arch, each at its config item: for `kto run` and `kto build` to report
 * before anything runs.
 */
export async function treeProblems(loaded: LoadedConfig, tree: string, builds?: readonly string[]): Promise<ConfigIssue[]> {
  const { config, file, locate } = loaded;
  const realTree = await realpath(tree);
  const wanted = builds ? new Set(builds) : null;
  const issues: ConfigIssue[] = [];
  const report = (path: (string | number)[], message: string) => issues.push({ file, ...locate(path), path: formatPath(path), message });
  for (const [index, build] of config.builds.entries()) {
    if (wanted && !wanted.has(build.name)) continue;
    const { base, layers } = build.config;
    if (base.endsWith("_defconfig")) {
      const defconfig = join("arch", ARCH_FACTS[build.arch].srcArch, "configs", base);
      if ("problem" in (await treeFile(realTree, defconfig))) report(["builds", index, "config", 0], `no ${defconfig} in the kernel tree for ${build.arch}`);
    }
    for (const [layer, item] of layers.entries()) {
      if (item.kind !== "fragment") continue;
      const found = await treeFile(realTree, item.path);
      if ("problem" in found) report(["builds", index, "config", layer + 1], `${item.path}: ${found.problem}`);
    }
  }
  return issues;
}
