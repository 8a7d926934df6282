import { mkdir, open, realpath, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KernelConfigRecipe } from "../../config/build-schema.js";
import { treeFile } from "../../config/kernel-tree.js";
import { JobInputError } from "../errors.js";
import { ARCH_FACTS, type KernelBuildSpec } from "./build-spec.js";
import type { RequestedOption } from "./config-check.js";
import { OUT_MOUNT, TREE_MOUNT } from "./diagnostics.js";
import { readKconfig } from "./config-check.js";
import { STAGING } from "./build-container.js";

/** A fragment is a list of options; one past this is not one, and is not read whole into memory. */
const MAX_FRAGMENT_BYTES = 1024 * 1024;

export interface ConfigInputs {
  /** What merge_config.sh lays over the base .config, in order, as the container sees them. */
  fragments: string[];
  /** Every option the build asks for, fragments' and single ones', for the check against the final .config. */
  requested: RequestedOption[];
}

async function readBounded(path: string, field: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(MAX_FRAGMENT_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_FRAGMENT_BYTES) throw new JobInputError(field, path, `larger than ${MAX_FRAGMENT_BYTES / 1024 / 1024} MiB: not a config fragment`);
    return buffer.toString("utf8", 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A fragment's real path, refused when it (or a symlink on the way) leaves the tree. */
async function confinedFragment(realTree: string, path: string, field: string): Promise<string> {
  const found = await treeFile(realTree, path);
  if ("problem" in found) throw new JobInputError(field, path, found.problem);
  return found.real;
}

/**
 * Checks a build's config recipe against the real tree and stages its single options as
 * fragment files in the output dir: every fragment must resolve, symlinks followed, to a
 * file inside the tree, and a `<name>_defconfig` base must exist for the build's arch.
 * Errors are the config's fault and name the item (`config[2]`).
 */
export async function stageConfigInputs(spec: KernelBuildSpec, tree: string, objDir: string): Promise<ConfigInputs> {
  const realTree = await realpath(tree);
  const recipe: KernelConfigRecipe = spec.config;
  if (recipe.base.endsWith("_defconfig")) {
    const file = join("arch", ARCH_FACTS[spec.arch].srcArch, "configs", recipe.base);
    await confinedFragment(realTree, file, "config[0]").catch(() => {
      throw new JobInputError("config[0]", recipe.base, `no ${file} in the kernel tree for ${spec.arch}`);
    });
  }
  await mkdir(join(objDir, STAGING), { recursive: true });
  const fragments: string[] = [];
  const requested: RequestedOption[] = [];
  let pending: string[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const name = `options-${fragments.length}.config`;
    await writeFile(join(objDir, STAGING, name), `${pending.join("\n")}\n`);
    fragments.push(`${OUT_MOUNT}/${STAGING}/${name}`);
    pending = [];
  };
  for (const [index, layer] of recipe.layers.entries()) {
    const field = `config[${index + 1}]`;
    if (layer.kind === "option") {
      pending.push(`${layer.name}=${layer.value}`);
      requested.push({ name: layer.name, value: layer.value, source: field });
      continue;
    }
    await flush();
    const real = await confinedFragment(realTree, layer.path, field);
    for (const [name, value] of readKconfig(await readBounded(real, field))) requested.push({ name, value, source: layer.path });
    // The path as the config wrote it, which the schema checked character by character;
    // inside the container it resolves within the same tree.
    fragments.push(`${TREE_MOUNT}/${layer.path}`);
  }
  await flush();
  return { fragments, requested };
}
