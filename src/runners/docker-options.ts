import type { ContainerCreateOptions } from "dockerode";
import type { DockerJob, JobSpec } from "../config/job-spec.js";
import type { GrantedPrivileges } from "./privilege-grant.js";

export const CONTAINER_WORKSPACE = "/workspace";
export const CONTAINER_RESULTS = "/results";
export const JOB_LABEL = "dev.kto.job";
export const OWNER_LABEL = "dev.kto.owner";

export function commandArgv(command: JobSpec["command"]): string[] {
  if (command === undefined) return [];
  return typeof command === "string" ? ["/bin/sh", "-c", command] : [...command];
}

export interface DockerMounts {
  workspace: string;
  resultsDir: string;
}

/**
 * The container for a job, with the isolation defaults (docs/architecture.md, "Docker
 * isolation defaults"): no network, nobody, read-only root with a writable /tmp, no new
 * privileges, no capabilities, memory/CPU/pids limits, the workspace read-only and only the
 * results dir writable. Beyond them only what the host's policy `granted` (a user, a
 * network, capabilities, devices), taken from nowhere else; never a privileged container.
 */
export function dockerCreateOptions(job: DockerJob, granted: GrantedPrivileges, name: string, mounts: DockerMounts, owner: string): ContainerCreateOptions {
  const memory = job.memoryBytes ?? 0;
  const { user, network } = granted;
  const [uid, gid] = user.split(":") as [string, string];
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
    HostConfig: {
      NetworkMode: network ? "bridge" : "none",
      ReadonlyRootfs: true,
      // exec: tests build binaries in /tmp and run them. The job's user owns the tmpfs because
      // runc before 1.1.8 ignores mode= and copies the mode of the image's /tmp (often 0755 root).
      Tmpfs: { "/tmp": `rw,nosuid,nodev,exec,mode=1777,uid=${uid},gid=${gid},size=268435456` },
      SecurityOpt: ["no-new-privileges"],
      CapDrop: ["ALL"],
      CapAdd: [...granted.capabilities],
      // rw without m: the job may use the node, not mknod another one through the same cgroup rule.
      Devices: granted.devices.map((path) => ({ PathOnHost: path, PathInContainer: path, CgroupPermissions: "rw" })),
      Memory: memory,
      MemorySwap: memory > 0 ? memory : 0,
      NanoCpus: job.cpus ? job.cpus * 1e9 : 0,
      PidsLimit: 4096,
      Binds: [`${mounts.workspace}:${CONTAINER_WORKSPACE}:ro`, `${mounts.resultsDir}:${CONTAINER_RESULTS}:rw`],
      AutoRemove: false,
      Init: false,
    },
  };
}
