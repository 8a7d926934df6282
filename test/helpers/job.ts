import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOCKER_DEVICES, LINUX_CAPABILITIES } from "../../src/config/docker-access.js";
import type { HostPolicy } from "../../src/config/host-policy.js";
import type { BuildJob, DockerJob, QemuJob } from "../../src/config/job-spec.js";
import { NO_PRIVILEGES, type PrivilegeAllowance } from "../../src/config/privileges.js";

/** The image and kernel that self-hosted/provision.sh prepares. */
export const BUSYBOX_IMAGE = "kto/busybox:1";
export const HOST_KERNEL = join(process.env.KTO_HOST_DIR ?? "/var/lib/kto", "kernel", "vmlinuz");
export const ARM64_KERNEL = join(process.env.KTO_HOST_DIR ?? "/var/lib/kto", "arm64", "kernel", "vmlinuz");
export const ARM64_BUSYBOX = join(process.env.KTO_HOST_DIR ?? "/var/lib/kto", "arm64", "busybox");

function common(id: string) {
  return {
    id,
    slug: id.replace(/[^A-Za-z0-9._-]+/g, "_"),
    suite: id,
    matrix: {},
    env: {},
    results: "auto" as const,
    labels: [],
    timeoutMs: 60_000,
    retries: 0,
    priority: 2,
    artifacts: [],
    network: false,
    arch: "x86_64" as const,
    idleTimeoutMs: 60_000,
  };
}

export function job(overrides: Partial<DockerJob> = {}): DockerJob {
  return { ...common(overrides.id ?? "job"), runner: "docker", image: BUSYBOX_IMAGE, command: "true", ...overrides };
}

export function qemuJob(overrides: Partial<QemuJob> = {}): QemuJob {
  return { ...common(overrides.id ?? "job"), runner: "qemu", kernel: HOST_KERNEL, command: "true", memoryBytes: 256 * 1024 ** 2, ...overrides };
}

/** A QEMU job that boots the kernel of the plan's build `build`. */
export function bootsBuild(build: string, overrides: Partial<QemuJob> = {}): QemuJob {
  return qemuJob({ kernel: "bzImage", build, ...overrides });
}

/** A host policy granting `privileges` and nothing else, as if read from `file`. */
export function hostPolicy(privileges: Partial<PrivilegeAllowance> = {}, file = "/etc/kto/policy.yml"): HostPolicy {
  return { file, present: true, privileges: { ...NO_PRIVILEGES, ...privileges } };
}

/** A host whose owner granted every privilege a docker job can ask for, each by name. */
export const GRANTS_EVERYTHING = hostPolicy({ user: "root", capabilities: LINUX_CAPABILITIES, devices: DOCKER_DEVICES, network: true });

/** A fresh directory removed after the callback, whatever happens. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "kto-test-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A kernel build: tinyconfig, built with gcc. */
export function buildJob(overrides: Partial<BuildJob> = {}): BuildJob {
  return {
    ...common(overrides.id ?? "build"),
    runner: "build",
    results: "none",
    toolchain: "gcc",
    config: { base: "tinyconfig", layers: [] },
    targets: ["kernel"],
    timeoutMs: 300_000,
    ...overrides,
  };
}
