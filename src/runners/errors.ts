import type { GuestArch } from "./guest-arch.js";

/**
 * Whose fault a job that could not run is. `config`: the suite asks for what no retry can
 * give it (a missing kernel file, a label this host lacks); fix the config. `host`: the
 * machine failed (engine gone, qemu aborting, KVM broken); another runner may succeed.
 */
export type Fault = "config" | "host";

/** An error that knows whose fault it is. */
export abstract class JobError extends Error {
  abstract readonly fault: Fault;
}

/** The Docker engine cannot be reached; nothing was started. */
export class DockerUnavailableError extends JobError {
  override readonly name = "DockerUnavailableError";
  readonly fault = "host";
  constructor(
    readonly endpoint: string,
    detail: unknown,
  ) {
    super(
      `cannot reach the Docker engine at ${endpoint} (${(detail as Error)?.message ?? String(detail)}): ` +
        "start dockerd (self-hosted/provision.sh does) or point DOCKER_HOST at a running engine",
      { cause: detail },
    );
  }
}

const QEMU_PACKAGES: Record<GuestArch, string> = { x86_64: "qemu-system-x86", arm64: "qemu-system-arm" };
const QEMU_OVERRIDES: Record<GuestArch, string> = { x86_64: "KTO_QEMU", arm64: "KTO_QEMU_ARM64" };

export class QemuUnavailableError extends JobError {
  override readonly name = "QemuUnavailableError";
  readonly fault = "host";
  constructor(
    readonly binary: string,
    readonly arch: GuestArch = "x86_64",
  ) {
    super(`${binary} was not found on PATH: install ${QEMU_PACKAGES[arch]} (self-hosted/provision.sh does) or set ${QEMU_OVERRIDES[arch]}`);
  }
}

/** QEMU itself failed (aborted, killed, refused to start a guest), not the guest: the host's fault. */
export class QemuHostError extends JobError {
  override readonly name = "QemuHostError";
  readonly fault = "host";
  constructor(
    message: string,
    /** The accelerator that was running; a KVM failure is retried at once under TCG. */
    readonly accelerator: "kvm" | "tcg",
  ) {
    super(message);
  }
}

export class ImagePullError extends JobError {
  override readonly name = "ImagePullError";
  readonly fault = "host";
  constructor(
    readonly image: string,
    readonly detail: string,
  ) {
    super(`cannot pull image ${image}: ${detail}`);
  }
}

/** A file the job needs (kernel, initramfs, disk) is not where the config says, or may not be used. */
export class JobInputError extends JobError {
  override readonly name = "JobInputError";
  readonly fault = "config";
  constructor(
    readonly field: string,
    readonly path: string,
    detail: string,
  ) {
    super(`${field}: ${path}: ${detail}`);
  }
}

/**
 * The job asks for something this host does not have. More CPUs or memory than the host has
 * is the config's fault (no label asked for them); a `kvm` label that routed the job here
 * while KVM no longer runs guests is the host's, and another runner may have it.
 */
export class UnsupportedJobError extends JobError {
  override readonly name = "UnsupportedJobError";
  constructor(
    readonly jobId: string,
    readonly requirement: string,
    readonly fault: Fault = "config",
  ) {
    super(`${jobId}: this host cannot run it: ${requirement}`);
  }
}

/**
 * Whether trying the same job again on another machine could help. Errors kto did not
 * foresee count as the host's: a retry is bounded, and blaming the config for kto's own
 * bug would send the user looking in the wrong place.
 */
export function isInfrastructureError(error: unknown): boolean {
  return !(error instanceof JobError) || error.fault === "host";
}

/** The job asks for privileges this host's policy does not grant; nothing of it was started. */
export class PrivilegeRefusedError extends JobError {
  override readonly name = "PrivilegeRefusedError";
  readonly fault = "config";
  constructor(
    readonly jobId: string,
    readonly refusals: readonly string[],
    readonly policyFile: string,
  ) {
    super(
      `${jobId}: asks for what this host does not grant, so nothing was started: ${refusals.join("; ")} ` +
        `(a host's owner grants privileges in ${policyFile}; see kto's README, "Security model")`,
    );
  }
}

/** This host's policy file cannot be read or is invalid: no docker job runs here until it is fixed, and another host may run it. */
export class HostPolicyError extends JobError {
  override readonly name = "HostPolicyError";
  readonly fault = "host";
  constructor(detail: string) {
    super(`this host's privilege policy is invalid, so it runs no docker job: ${detail}`);
  }
}
