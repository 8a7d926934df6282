import { DEFAULT_BUILD_TIMEOUT_MS } from "../../config/build-facts.js";
import type { BuildConfig, BuildTarget, BuildToolchain, KernelConfigRecipe } from "../../config/build-schema.js";
import type { GuestArch } from "../../config/schema.js";

/** The image self-hosted/provision.sh makes: Debian's gcc, clang/LLVM, the arm64 cross gcc and ccache. */
export const DEFAULT_BUILDER_IMAGE = "kto/builder:1";
// The plan names a build's outputs and resolves its timeout too; the facts live with the config.
export { ARCH_FACTS, DEFAULT_BUILD_TIMEOUT_MS } from "../../config/build-facts.js";

/** One kernel build with every default resolved: what buildKernel runs. */
export interface KernelBuildSpec {
  name: string;
  arch: GuestArch;
  toolchain: BuildToolchain;
  config: KernelConfigRecipe;
  targets: BuildTarget[];
  image: string;
  timeoutMs: number;
  cpus?: number;
  memoryBytes?: number;
}

export function kernelBuildSpec(build: BuildConfig, defaultTimeoutMs = DEFAULT_BUILD_TIMEOUT_MS): KernelBuildSpec {
  return {
    name: build.name,
    arch: build.arch,
    toolchain: build.toolchain,
    config: build.config,
    targets: build.targets,
    image: build.image ?? DEFAULT_BUILDER_IMAGE,
    timeoutMs: build.timeout ?? defaultTimeoutMs,
    ...(build.hardware.cpus ? { cpus: build.hardware.cpus } : {}),
    ...(build.hardware.memory ? { memoryBytes: build.hardware.memory } : {}),
  };
}
