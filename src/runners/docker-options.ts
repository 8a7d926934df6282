import type { ContainerCreateOptions } from "dockerode";
import type { DockerJob } from "../config/job-spec.js";
import type { GrantedPrivileges } from "./privilege-grant.js";

export const CONTAINER_WORKSPACE = "/workspace";
export const CONTAINER_RESULTS = "/results";
export const JOB_LABEL = "dev.kto.job";
export const OWNER_LABEL = "dev.kto.owner";

export function commandArgv(command: string | string[] | undefined): string[] {
  if (command === undefined) return [];
  return typeof command === "string" ? ["/bin/sh", "-c", command] : [...command];
}

export interface DockerMounts {
  workspace: string;
  resultsDir: string;
}

/** What a container may be given beyond the isolation defaults, and what it is bounded by. */
export interface IsolationRequest {
  /** Numeric `uid:gid`. */
  user: string;
  network: boolean;
  capabilities?: readonly string[];
  devices?: readonly string[];
  memoryBytes?: number;
  cpus?: number;
  /** Size of the writable /tmp. */
  tmpBytes?: number;
  binds: string[];
}

const DEFAULT_TMP_BYTES = 256 * 1024 * 1024;

/**
 * The isolation defaults (docs/architecture.md, "Docker isolation defaults"), the one place
 * every kto container gets them: no network unless asked, read-only root with a writable
 * /tmp, no new privileges, no capabilities, memory/CPU/pids limits, only the given binds.
 * Nothing here can make a container privileged.
 */
export function isolatedHostConfig(request: IsolationRequest): NonNullable<ContainerCreateOptions["HostConfig"]> {
  const memory = request.memoryBytes ?? 0;
  const [uid, gid] = request.user.split(":") as [string, string];
  return {
    NetworkMode: request.network ? "bridge" : "none",
    ReadonlyRootfs: true,
    // exec: tests build binaries in /tmp and run them. The job's user owns the tmpfs because
    // runc before 1.1.8 ignores mode= and copies the mode of the image's /tmp (often 0755 root).
    Tmpfs: { "/tmp": `rw,nosuid,nodev,exec,mode=1777,uid=${uid},gid=${gid},size=${request.tmpBytes ?? DEFAULT_TMP_BYTES}` },
    SecurityOpt: ["no-new-privileges"],
    CapDrop: ["ALL"],
    CapAdd: [...(request.capabilities ?? [])],
    // rw without m: the job may use the node, not mknod another one through the same cgroup rule.
    Devices: (request.devices ?? []).map((path) => ({ PathOnHost: path, PathInContainer: path, CgroupPermissions: "rw" })),
    Memory: memory,
    MemorySwap: memory > 0 ? memory : 0,
    NanoCpus: request.cpus ? request.cpus * 1e9 : 0,
    PidsLimit: 4096,
    Binds: request.binds,
    AutoRemove: false,
    Init: false,
  };
}

/**
 * The container for a job, with the isolation defaults, the workspace read-only and only the
 * results dir writable. Beyond them only what the host's policy `granted` (a user, a network,
 * capabilities, devices), taken from nowhere else; never a privileged container.
 */
export function dockerCreateOptions(job: DockerJob, granted: GrantedPrivileges, name: string, mounts: DockerMounts, owner: string): ContainerCreateOptions {
  const { user, network } = granted;
  return {
    name,
    Image: job.image,
    Entrypoint: commandArgv(job.command),
    Cmd: [],
    User: user,
    WorkingDir: CONTAINER_WORKSPACE,
    Env: Object.entries({ ...job.env, KTO_RESULTS: CONTAINER_RESULTS, KTO_JOB: job.id, HOME: "/tmp" }).map(([key, value]) => `${key}=${value}`),
    Labels: { [JOB_LABEL]: job.id, [OWNER_LABEL]: owner },
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    OpenStdin: false,
    NetworkDisabled: !network,
    HostConfig: isolatedHostConfig({
      user,
      network,
      capabilities: granted.capabilities,
      devices: granted.devices,
      memoryBytes: job.memoryBytes,
      cpus: job.cpus,
      binds: [`${mounts.workspace}:${CONTAINER_WORKSPACE}:ro`, `${mounts.resultsDir}:${CONTAINER_RESULTS}:rw`],
    }),
  };
}
