import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { buildSchema } from "../src/config/build-schema.js";
import { buildKernel } from "../src/runners/build/build-kernel.js";
import type { BuildResult } from "../src/runners/build/build-result.js";
import { DEFAULT_BUILDER_IMAGE, kernelBuildSpec } from "../src/runners/build/build-spec.js";
import { sha256 } from "../src/runners/artifacts.js";
import { kernelTree } from "../test/helpers/kernel-tree.js";
import { timed } from "./measure.js";

/** The config the tests, the demo and CI build: small, and it boots to KUnit. */
const OPTIONS = [
  "CONFIG_64BIT=y",
  "CONFIG_PRINTK=y",
  "CONFIG_TTY=y",
  "CONFIG_SERIAL_8250=y",
  "CONFIG_SERIAL_8250_CONSOLE=y",
  "CONFIG_BLK_DEV_INITRD=y",
  "CONFIG_KUNIT=y",
  "CONFIG_KUNIT_EXAMPLE_TEST=y",
];
const spec = kernelBuildSpec(buildSchema.parse({ name: "bench", config: ["tinyconfig", ...OPTIONS], hardware: {} }));

/**
 * What a user would type without kto: the same image, tree and config, make out of tree,
 * no network, as this user; no compiler cache, since a bare make has none.
 */
async function bareMake(tree: string, out: string): Promise<void> {
  await mkdir(out, { recursive: true });
  const uid = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
  const script = [
    "set -e",
    "make -C /src O=/out tinyconfig",
    `printf '%s\\n' ${OPTIONS.map((o) => `'${o}'`).join(" ")} > /out/bench.config`,
    "cd /out && /src/scripts/kconfig/merge_config.sh -m -O /out /out/.config /out/bench.config",
    "make -C /src O=/out olddefconfig",
    `make -C /src O=/out -j${availableParallelism()} bzImage`,
  ].join("\n");
  await execa("docker", [
    "run",
    "--rm",
    "--network",
    "none",
    "-u",
    uid,
    "-e",
    "HOME=/tmp",
    "-e",
    "ARCH=x86_64",
    "-v",
    `${tree}:/src:ro`,
    "-v",
    `${out}:/out`,
    DEFAULT_BUILDER_IMAGE,
    "/bin/sh",
    "-c",
    script,
  ]);
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function expectBuilt(result: BuildResult): BuildResult {
  if (result.outcome !== "passed") throw new Error(`the benchmark's build ended ${result.outcome}: ${result.reason}`);
  return result;
}

/**
 * One build on each side: a kernel build takes minutes, and two cores make its time steady
 * enough that one run says what it costs. The rows: kto's overhead over a bare make (the
 * cold build with an empty ccache, so ccache's own cost is counted as kto's); a warm rebuild
 * of the same tree against that cold one; and handing the outputs over (checking every digest
 * and copying them, as a job on the host that built them does) against the build itself.
 */
export async function buildBenchmarks(progress: (line: string) => void): Promise<string> {
  const tree = await kernelTree();
  const dir = await mkdtemp(join(tmpdir(), "kto-build-bench-"));
  try {
    progress("build: bare make of tinyconfig with KUnit (minutes)");
    const bareMs = await timed(() => bareMake(tree, join(dir, "bare")));
    progress(`build: bare make ${seconds(bareMs)}; kto build with an empty ccache`);
    const ccacheDir = join(dir, "ccache");
    const cold = expectBuilt(await buildKernel({ spec, tree, outDir: join(dir, "cold"), ccacheDir }));
    progress(`build: kto cold ${seconds(cold.durationMs)}; kto again from the ccache it filled`);
    const warm = expectBuilt(await buildKernel({ spec, tree, outDir: join(dir, "warm"), ccacheDir }));
    progress(`build: kto warm ${seconds(warm.durationMs)} (ccache hit rate ${warm.ccache?.hitRate ?? "unknown"}); handing the outputs over`);
    await mkdir(join(dir, "handoff"));
    const handoffMs = await timed(async () => {
      for (const file of warm.files) {
        const copy = join(dir, "handoff", file.path);
        await cp(join(dir, "warm", file.path), copy);
        if ((await sha256(copy)) !== file.sha256) throw new Error(`${file.path} changed on the way`);
      }
    });
    const bytes = warm.files.reduce((sum, file) => sum + file.size, 0);
    return [
      "## Kernel builds (one build per row: minutes each)",
      "",
      "| benchmark | kto | baseline | ratio | goal |",
      "|---|---|---|---|---|",
      `| kto build, empty ccache (tinyconfig + KUnit, x86_64, gcc) | ${seconds(cold.durationMs)} | ${seconds(bareMs)} (bare \`make\` in the same image) | ${(cold.durationMs / bareMs).toFixed(2)} | ≤ 1.05 |`,
      `| warm rebuild (ccache hit rate ${warm.ccache?.hitRate ?? "unknown"}) | ${seconds(warm.durationMs)} | ${seconds(cold.durationMs)} (the cold build) | ${(warm.durationMs / cold.durationMs).toFixed(2)} | — |`,
      `| handoff on the host that built it (${(bytes / 1024 / 1024).toFixed(1)} MiB copied, every digest checked) | ${seconds(handoffMs)} | ${seconds(warm.durationMs)} (the build) | ${(handoffMs / warm.durationMs).toFixed(3)} | — |`,
      "",
    ].join("\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
