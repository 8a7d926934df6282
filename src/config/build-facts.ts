import type { GuestArch } from "./fields.js";

/**
 * What a kernel build makes, per architecture: the builder runs make with these, and the
 * plan names the files a suite boots from them, before anything is built.
 */

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

/** The kernel image's name among a build's outputs: the file make wrote, handed on by its own name. */
export function kernelImageName(arch: GuestArch): string {
  return ARCH_FACTS[arch].imagePath.split("/").pop()!;
}

/** The modules a build installs, as one archive among its outputs. */
export const MODULES_ARCHIVE = "modules.tar.gz";

/**
 * A build with no timeout of its own. Not `defaults.timeout`, which is sized for tests
 * (20 minutes unless set): a cold defconfig on a small host takes longer than that, and an
 * allmodconfig hours.
 */
export const DEFAULT_BUILD_TIMEOUT_MS = 2 * 60 * 60_000;
