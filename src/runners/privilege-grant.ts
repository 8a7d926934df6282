import { NOBODY_USER, type DockerDevice, type LinuxCapability } from "../config/docker-access.js";
import { formatPath } from "../config/errors.js";
import { grantorOf, type HostPolicy } from "../config/host-policy.js";
import type { DockerJob } from "../config/job-spec.js";
import { excessOver } from "../config/privileges.js";
import { PrivilegeRefusedError } from "./errors.js";

declare const granted: unique symbol;

/**
 * What a job's container gets beyond kto's isolation defaults. Only grantPrivileges makes
 * one, once the host's policy has allowed all of it, and a container's options are built
 * from it alone: no code path creates a container with privileges the host did not grant.
 */
export interface GrantedPrivileges {
  /** Numeric `uid:gid`. */
  readonly user: string;
  readonly capabilities: readonly LinuxCapability[];
  readonly devices: readonly DockerDevice[];
  readonly network: boolean;
  readonly [granted]: true;
}

/** The privileges `job` asks for, when `policy` allows every one; a PrivilegeRefusedError naming each field it does not. */
export function grantPrivileges(job: DockerJob, policy: HostPolicy): GrantedPrivileges {
  const excess = excessOver(job, policy.privileges, grantorOf(policy));
  if (excess.length > 0)
    throw new PrivilegeRefusedError(
      job.id,
      excess.map(({ path, message }) => `${formatPath(path)}: ${message}`),
      policy.file,
    );
  return {
    user: job.user ?? NOBODY_USER,
    capabilities: [...(job.capabilities ?? [])],
    devices: [...(job.devices ?? [])],
    network: job.network,
  } as Omit<GrantedPrivileges, typeof granted> as GrantedPrivileges;
}
