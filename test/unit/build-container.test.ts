import { describe, expect, it } from "@jest/globals";
import { buildSchema } from "../../src/config/build-schema.js";
import { BUILD_SCRIPT, buildContainerOptions } from "../../src/runners/build/build-container.js";
import { kernelBuildSpec } from "../../src/runners/build/build-spec.js";

function optionsFor(entry: Record<string, unknown>, ccacheReadOnly = false) {
  const spec = kernelBuildSpec(buildSchema.parse({ name: "b", config: ["defconfig", 'CONFIG_CMDLINE="a b"'], ...entry }));
  const options = buildContainerOptions({
    spec,
    name: "kto-build-b",
    owner: "host:1",
    user: "65534:65534",
    jobs: 3,
    tree: "/trees/linux",
    objDir: "/builds/b/obj",
    ccacheDir: "/cache/gcc",
    ccacheMaxSize: "5G",
    ccacheReadOnly,
    fragments: ["/src/kernel/configs/kvm_guest.config", "/out/.kto/options-1.config"],
  });
  return { options, env: Object.fromEntries(options.Env!.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])) };
}

describe("the build container", () => {
  it("runs the fixed script with the fragments as its arguments, isolated, the tree read-only", () => {
    const { options, env } = optionsFor({});
    expect(options.Entrypoint).toEqual(["/bin/sh", "-c", BUILD_SCRIPT, "kto-build", "/src/kernel/configs/kvm_guest.config", "/out/.kto/options-1.config"]);
    expect(options).toMatchObject({ User: "65534:65534", NetworkDisabled: true, Image: "kto/builder:1" });
    expect(options.HostConfig).toMatchObject({
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      CapAdd: [],
      SecurityOpt: ["no-new-privileges"],
      Binds: ["/trees/linux:/src:ro", "/builds/b/obj:/out:rw", "/cache/gcc:/ccache:rw"],
    });
    expect(options.HostConfig?.Privileged).toBeUndefined();
    expect(env).toMatchObject({ ARCH: "x86_64", KTO_CC: "ccache gcc", KTO_JOBS: "3", KTO_GOALS: "bzImage", CCACHE_MAXSIZE: "5G" });
    expect(env.CROSS_COMPILE).toBeUndefined();
    // A ccache.conf an earlier build left in the shared cache dir is never read.
    expect(env.CCACHE_CONFIGPATH).toBe("/dev/null");
    expect(env.CCACHE_READONLY).toBeUndefined();
  });

  it("gives an untrusted build the compiler cache read-only: it reads hits and plants nothing for the builds after it", () => {
    const { options, env } = optionsFor({}, true);
    expect(options.HostConfig?.Binds).toContain("/cache/gcc:/ccache:ro");
    expect(env).toMatchObject({ CCACHE_READONLY: "1", CCACHE_CONFIGPATH: "/dev/null", CCACHE_TEMPDIR: "/tmp/ccache" });
  });

  it("cross-compiles arm64 with the GNU prefix, or with LLVM=1 under clang", () => {
    expect(optionsFor({ arch: "arm64", targets: ["kernel", "modules"] }).env).toMatchObject({
      ARCH: "arm64",
      CROSS_COMPILE: "aarch64-linux-gnu-",
      KTO_CC: "ccache aarch64-linux-gnu-gcc",
      KTO_GOALS: "Image modules",
      KTO_MODULES: "1",
    });
    const clang = optionsFor({ arch: "arm64", toolchain: "clang" }).env;
    expect(clang).toMatchObject({ ARCH: "arm64", LLVM: "1", KTO_CC: "ccache clang", KTO_HOSTCC: "ccache clang" });
    expect(clang.CROSS_COMPILE).toBeUndefined();
  });
});
