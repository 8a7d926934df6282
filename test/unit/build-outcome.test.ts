import { describe, expect, it } from "@jest/globals";
import { buildSchema } from "../../src/config/build-schema.js";
import { decideBuild, noDiagnostics } from "../../src/runners/build/build-result.js";
import { kernelBuildSpec } from "../../src/runners/build/build-spec.js";
import { parseBuildLog } from "../../src/runners/build/diagnostics.js";

const spec = kernelBuildSpec(buildSchema.parse({ name: "b", config: ["tinyconfig"], timeout: "30m" }));
const exit = (exitCode: number | null, reason: "exit" | "timeout" | "cancel" = "exit", oomKilled = false) => ({ exitCode, reason, oomKilled });
const enospc = parseBuildLog(
  "/src/scripts/Makefile.build:250: recipe for target 'init/main.o' failed\ncc1: fatal error: /out/init/.main.o.d: No space left on device",
);

describe("whose fault a build's end is", () => {
  it("blames a full disk on the host only when the build said so and the disk is nearly full", () => {
    expect(decideBuild(spec, exit(2), enospc, [], "/builds has 12 MiB free")).toEqual({
      status: "errored",
      outcome: "infrastructure",
      reason: "the disk is full: /builds has 12 MiB free",
    });
    // Printing the words is not enough: a disk with room left means the code failed.
    expect(decideBuild(spec, exit(2), enospc, [], null)).toMatchObject({ status: "failed", outcome: "failed" });
  });

  it("names the first error of a compile failure and counts them", () => {
    const diagnostics = parseBuildLog(
      "/src/init/main.c:12:5: error: 'x' undeclared (first use in this function)\n/src/init/main.c:20:1: error: expected ';' before '}' token",
    );
    expect(decideBuild(spec, exit(2), diagnostics, [], null).reason).toBe(
      "the build failed (exit 2): 2 errors; the first: init/main.c:12: 'x' undeclared (first use in this function)",
    );
  });

  it("tells a timeout, a cancel and running out of memory apart from a failure", () => {
    expect(decideBuild(spec, exit(null, "timeout"), noDiagnostics(), [], null)).toMatchObject({
      outcome: "timed_out",
      reason: "the build ran past its timeout (30m) and was killed",
    });
    expect(decideBuild(spec, exit(null, "cancel"), noDiagnostics(), [], null)).toMatchObject({ outcome: "cancelled" });
    expect(decideBuild({ ...spec, memoryBytes: 2 * 1024 ** 3 }, exit(137, "exit", true), noDiagnostics(), [], null)).toMatchObject({
      outcome: "config_error",
      reason: "the build ran out of its 2.0 GiB of memory: raise hardware.memory",
    });
    expect(decideBuild(spec, exit(137, "exit", true), noDiagnostics(), [], null)).toMatchObject({ outcome: "infrastructure" });
  });

  it("blames the host when the container was killed by something other than kto", () => {
    expect(decideBuild(spec, exit(137), noDiagnostics(), [], null)).toEqual({
      status: "errored",
      outcome: "infrastructure",
      reason: "the build container was killed from outside (exit 137) before make finished",
    });
    expect(decideBuild(spec, exit(143), noDiagnostics(), [], null)).toMatchObject({ outcome: "infrastructure" });
  });

  it("fails a build that exits 0 without the outputs its targets make", () => {
    expect(decideBuild(spec, exit(0), noDiagnostics(), ["arch/x86/boot/bzImage"], null)).toMatchObject({
      outcome: "failed",
      reason: "the build succeeded but made no arch/x86/boot/bzImage",
    });
  });
});
