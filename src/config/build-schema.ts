import { z } from "zod";
import { arch, hardware, matrix, name, priority, retries, timeout } from "./fields.js";

/** A `builds:` entry: the kernel a pull request changes, built before the suites that boot it. */

/** Kconfig lines one build may ask for; an honest list is tens, kunit's all_tests a few hundred. */
export const MAX_BUILD_CONFIG_ITEMS = 10_000;

export const BUILD_TOOLCHAINS = ["gcc", "clang"] as const;
export type BuildToolchain = (typeof BUILD_TOOLCHAINS)[number];

export const BUILD_TARGETS = ["kernel", "modules", "kselftest"] as const;
export type BuildTarget = (typeof BUILD_TARGETS)[number];

/** The make targets that write a whole .config from nothing; `<name>_defconfig` names a file of arch/<arch>/configs. */
const BASE_TARGETS = new Set(["tinyconfig", "defconfig", "allnoconfig", "allyesconfig", "allmodconfig", "alldefconfig"]);
const DEFCONFIG_FILE = /^[a-z0-9][a-z0-9_.-]*_defconfig$/;

/** A Kconfig symbol, then y, m, n, a decimal or hex number, or a double-quoted string with nothing make or a shell would read. */
const OPTION = /^(CONFIG_[A-Za-z0-9_]+)=(y|m|n|-?\d+|0x[0-9a-fA-F]+|"[^"\\$`\n\r]*")$/;
/** A path inside the tree: relative segments of plain characters, none of them `..`, none starting with `-`. */
const FRAGMENT = /^(?!-)[A-Za-z0-9_+-][A-Za-z0-9._+-]*(?:\/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)*$/;

/** What the tree's .config is made from, in order: the base target, then each fragment file or single option. */
export type ConfigLayer = { kind: "fragment"; path: string } | { kind: "option"; name: string; value: string };
export interface KernelConfigRecipe {
  base: string;
  layers: ConfigLayer[];
}

/** The message for an item that is neither an option nor a fragment path, or null when it is one of them. */
function layerProblem(item: string): string | null {
  if (item.startsWith("CONFIG_") || item.includes("=")) {
    return OPTION.test(item)
      ? null
      : `expected CONFIG_NAME=value with value y, m, n, a number or a "quoted string" (no $, \` or \\), got ${JSON.stringify(item)}`;
  }
  if (item.startsWith("/")) return `a fragment path is relative to the kernel tree, got the absolute path ${JSON.stringify(item)}`;
  if (item.split("/").includes("..")) return `a fragment path may not leave the kernel tree (..), got ${JSON.stringify(item)}`;
  if (!FRAGMENT.test(item)) return `expected a fragment file of the tree (letters, digits, ., _, +, - and /) or CONFIG_NAME=value, got ${JSON.stringify(item)}`;
  return null;
}

const configList = z
  .array(z.string().min(1, "expected a config target, fragment path or CONFIG_NAME=value"))
  .min(1, "expected a base config target first, such as tinyconfig or defconfig")
  .max(MAX_BUILD_CONFIG_ITEMS + 1, `at most ${MAX_BUILD_CONFIG_ITEMS} fragments and options after the base target`)
  .transform((items, ctx): KernelConfigRecipe => {
    const [base, ...rest] = items as [string, ...string[]];
    if (!isBaseTarget(base)) {
      ctx.addIssue({
        code: "custom",
        path: [0],
        message: `expected a base config target first (${[...BASE_TARGETS].join(", ")} or <name>_defconfig), got ${JSON.stringify(base)}`,
      });
    }
    const layers: ConfigLayer[] = [];
    rest.forEach((item, index) => {
      const problem = layerProblem(item);
      if (problem) ctx.addIssue({ code: "custom", path: [index + 1], message: problem });
      else layers.push(optionOf(item) ?? { kind: "fragment", path: item });
    });
    return { base, layers };
  });

function optionOf(item: string): ConfigLayer | null {
  const match = OPTION.exec(item);
  return match ? { kind: "option", name: match[1]!, value: match[2]! } : null;
}

function isBaseTarget(base: string): boolean {
  return BASE_TARGETS.has(base) || DEFCONFIG_FILE.test(base);
}

/** A recipe as a dispatched job spec carries it: each layer held to the rule its config line was. */
export const kernelConfigRecipeSchema = z
  .object({
    base: z.string().refine(isBaseTarget, "expected a base config target"),
    layers: z
      .array(
        z.union([
          z
            .object({
              kind: z.literal("fragment"),
              path: z.string().refine((path) => layerProblem(path) === null && optionOf(path) === null, "expected a fragment path inside the tree"),
            })
            .strict(),
          z
            .object({ kind: z.literal("option"), name: z.string(), value: z.string() })
            .strict()
            .refine(({ name, value }) => {
              const option = optionOf(`${name}=${value}`);
              return option?.kind === "option" && option.name === name && option.value === value;
            }, "expected CONFIG_NAME and a value make and a shell read as written"),
        ]),
      )
      .max(MAX_BUILD_CONFIG_ITEMS),
  })
  .strict() satisfies z.ZodType<KernelConfigRecipe>;

export const buildSchema = z
  .object({
    name,
    arch,
    toolchain: z.enum(BUILD_TOOLCHAINS).default("gcc"),
    config: configList,
    targets: z
      .array(z.enum(BUILD_TARGETS))
      .min(1, "expected at least one target")
      .transform((list) => [...new Set(list)])
      .default(["kernel"]),
    image: z.string().min(1).optional(),
    timeout: timeout.optional(),
    retries: retries.optional(),
    priority: priority.optional(),
    matrix: matrix.optional(),
    hardware: hardware.default({}),
  })
  .strict();

export const buildListSchema = z.array(buildSchema).superRefine((builds, ctx) => {
  const seen = new Map<string, number>();
  builds.forEach((build, index) => {
    const first = seen.get(build.name);
    if (first === undefined) seen.set(build.name, index);
    else ctx.addIssue({ code: "custom", path: [index, "name"], message: `duplicate build name (first at builds[${first}])` });
  });
});

export type BuildConfig = z.output<typeof buildSchema>;
