import type { ContainerCreateOptions } from "dockerode";
import { isolatedHostConfig, JOB_LABEL, OWNER_LABEL } from "../docker-options.js";
import { ARCH_FACTS, type KernelBuildSpec } from "./build-spec.js";
import { OUT_MOUNT, TREE_MOUNT } from "./diagnostics.js";

/** ccache's own mount; one directory per toolchain on the host. */
export const CCACHE_MOUNT = "/ccache";
/** kto's files inside the output dir: option fragments in, ccache counters and archives out. */
export const STAGING = ".kto";
/** A kernel build's temporary files (gcc without -pipe, merge_config.sh) fit in far less. */
const BUILD_TMP_BYTES = 1024 * 1024 * 1024;

/** What the build script exits with when a step fails, whatever that step's own status was. */
export const BUILD_FAILED_STATUS = 2;

/**
 * What runs in the container, as a fixed script: every value it uses comes in as an
 * argument or a variable, never spliced into its text, so no option or path can become a
 * command. The base target writes .config, merge_config.sh lays the fragments over it in
 * order, olddefconfig settles what they leave open, then the targets build. ccache's
 * counters are read before and after, since the cache is shared with other builds. A failed
 * step exits with BUILD_FAILED_STATUS, so a status of a signal (137, 143) can only mean the
 * container itself was killed from outside.
 */
export const BUILD_SCRIPT = `set -u
fail() { exit ${BUILD_FAILED_STATUS}; }
mk() { make -C ${TREE_MOUNT} O=${OUT_MOUNT} "CC=$KTO_CC" "HOSTCC=$KTO_HOSTCC" "$@"; }
stage=${OUT_MOUNT}/${STAGING}
mk "$KTO_BASE" || fail
if [ $# -gt 0 ]; then (cd ${OUT_MOUNT} && ${TREE_MOUNT}/scripts/kconfig/merge_config.sh -m -O ${OUT_MOUNT} ${OUT_MOUNT}/.config "$@") || fail; fi
mk olddefconfig || fail
ccache --print-stats > "$stage/ccache-before.tsv"
status=0
if [ -n "$KTO_GOALS" ]; then mk -j"$KTO_JOBS" $KTO_GOALS || status=1; fi
if [ "$status" = 0 ] && [ -n "$KTO_KSELFTEST" ]; then mk -j"$KTO_JOBS" KSFT_INSTALL_PATH="$stage/kselftest" kselftest-install || status=1; fi
ccache --print-stats > "$stage/ccache-after.tsv"
[ "$status" = 0 ] || fail
if [ -n "$KTO_MODULES" ]; then
  mk INSTALL_MOD_PATH="$stage/modules" INSTALL_MOD_STRIP=1 modules_install || fail
  tar -C "$stage/modules" -czf "$stage/modules.tar.gz" lib || fail
fi
if [ -n "$KTO_KSELFTEST" ]; then tar -C "$stage/kselftest" -czf "$stage/kselftest.tar.gz" . || fail; fi
exit 0
`;

export interface BuildContainerRequest {
  spec: KernelBuildSpec;
  name: string;
  owner: string;
  /** `uid:gid` the build runs as. */
  user: string;
  jobs: number;
  /** Host paths: the tree (read-only), make's output dir and this toolchain's ccache dir. */
  tree: string;
  objDir: string;
  ccacheDir: string;
  ccacheMaxSize: string;
  /** An untrusted build's: it reads the cache and adds nothing to it. */
  ccacheReadOnly: boolean;
  /** Fragment paths as the container sees them, in order. */
  fragments: string[];
}

/** The make goals of a build's targets; kselftest builds and installs in its own step after them. */
export function makeGoals(spec: KernelBuildSpec): string[] {
  const goals: string[] = [];
  if (spec.targets.includes("kernel")) goals.push(ARCH_FACTS[spec.arch].imageGoal);
  if (spec.targets.includes("modules")) goals.push("modules");
  return goals;
}

/** The build container: kto's isolation defaults, no network, the tree read-only, only the output and ccache dirs writable. */
export function buildContainerOptions(request: BuildContainerRequest): ContainerCreateOptions {
  const { spec } = request;
  const facts = ARCH_FACTS[spec.arch];
  const clang = spec.toolchain === "clang";
  const env: Record<string, string> = {
    ARCH: facts.kernelArch,
    ...(clang ? { LLVM: "1" } : facts.crossCompile ? { CROSS_COMPILE: facts.crossCompile } : {}),
    KTO_CC: clang ? "ccache clang" : `ccache ${facts.crossCompile}gcc`,
    // The host tools (objtool, fixdep, Kconfig's conf) are rebuilt in every fresh output dir too.
    KTO_HOSTCC: clang ? "ccache clang" : "ccache gcc",
    KTO_BASE: spec.config.base,
    KTO_JOBS: String(request.jobs),
    KTO_GOALS: makeGoals(spec).join(" "),
    KTO_MODULES: spec.targets.includes("modules") ? "1" : "",
    KTO_KSELFTEST: spec.targets.includes("kselftest") ? "1" : "",
    CCACHE_DIR: CCACHE_MOUNT,
    CCACHE_MAXSIZE: request.ccacheMaxSize,
    // Images differ: a compiler is known by its contents, not by its path and mtime.
    CCACHE_COMPILERCHECK: "content",
    // The cache dir is shared with later builds: a ccache.conf written there (prefix_command,
    // say) would run in them. Only kto's settings, from this environment, count.
    CCACHE_CONFIGPATH: "/dev/null",
    ...(request.ccacheReadOnly ? { CCACHE_READONLY: "1", CCACHE_TEMPDIR: "/tmp/ccache" } : {}),
    HOME: "/tmp",
    // The build's user may have no passwd entry; the kernel's version string needs none.
    KBUILD_BUILD_USER: "kto",
    KBUILD_BUILD_HOST: "kto",
  };
  return {
    name: request.name,
    Image: spec.image,
    Entrypoint: ["/bin/sh", "-c", BUILD_SCRIPT, "kto-build", ...request.fragments],
    Cmd: [],
    User: request.user,
    WorkingDir: OUT_MOUNT,
    Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
    Labels: { [JOB_LABEL]: `build:${spec.name}`, [OWNER_LABEL]: request.owner },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    NetworkDisabled: true,
    HostConfig: isolatedHostConfig({
      user: request.user,
      network: false,
      memoryBytes: spec.memoryBytes,
      cpus: spec.cpus,
      tmpBytes: BUILD_TMP_BYTES,
      binds: [
        `${request.tree}:${TREE_MOUNT}:ro`,
        `${request.objDir}:${OUT_MOUNT}:rw`,
        `${request.ccacheDir}:${CCACHE_MOUNT}:${request.ccacheReadOnly ? "ro" : "rw"}`,
      ],
    }),
  };
}
