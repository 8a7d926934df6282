/** The Docker engine cannot be reached; nothing was started. */
export class DockerUnavailableError extends Error {
  override readonly name = "DockerUnavailableError";
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

export class QemuUnavailableError extends Error {
  override readonly name = "QemuUnavailableError";
  constructor(readonly binary: string) {
    super(`${binary} was not found on PATH: install qemu-system-x86 (self-hosted/provision.sh does) or set KTO_QEMU`);
  }
}

export class ImagePullError extends Error {
  override readonly name = "ImagePullError";
  constructor(
    readonly image: string,
    readonly detail: string,
  ) {
    super(`cannot pull image ${image}: ${detail}`);
  }
}

/** A file the job needs (kernel, initramfs, disk) is not where the config says. */
export class JobInputError extends Error {
  override readonly name = "JobInputError";
  constructor(
    readonly field: string,
    readonly path: string,
    detail: string,
  ) {
    super(`${field}: ${path}: ${detail}`);
  }
}

/** Whether trying the same job again on another machine could help. */
export function isInfrastructureError(error: unknown): boolean {
  return error instanceof DockerUnavailableError || error instanceof QemuUnavailableError || error instanceof ImagePullError;
}
