import type { BuildConfig, BuildTarget, BuildToolchain, KernelConfigRecipe } from "../../config/build-schema.js";
import type { GuestArch } from "../../config/schema.js";

/** The image self-hosted/provision.sh makes: Debian's gcc, clang/LLVM, the arm64 cross gcc and ccache. */
export const DEFAULT_BUILDER_IMAGE = "kto/builder:1";
/** A build with no timeout of its own; a cold allmodconfig on a small host takes hours. */
export const DEFAULT_BUILD_TIMEOUT_MS = 2 * 60 * 60_000;

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

interface ArchFacts {
  /** ARCH= for make; x86_64 (not x86) makes every base target 64-bit, as the name promises. */
  kernelArch: string;
  /** Its directory under arch/. */
  srcArch: string;
  /** The image make builds, and where (relative to O=) it lands. */
  imageGoal: string;
  imagePath: string;
  /** GNU toolchain prefix on an x86_64 host; clang cross-compiles with --target from ARCH alone. */
  crossCompile: string;
}

export const ARCH_FACTS: Record<GuestArch, ArchFacts> = {
  x86_64: { kernelArch: "x86_64", srcArch: "x86", imageGoal: "bzImage", imagePath: "arch/x86/boot/bzImage", crossCompile: "" },
  arm64: { kernelArch: "arm64", srcArch: "arm64", imageGoal: "Image", imagePath: "arch/arm64/boot/Image", crossCompile: "aarch64-linux-gnu-" },
};
