import { cpus as hostCpus, totalmem } from "node:os";
import type { DockerJob, JobSpec, QemuJob } from "../config/job-spec.js";
import { formatSize } from "../config/size.js";
import { DockerExecutor } from "./docker-executor.js";
import { QemuUnavailableError, UnsupportedJobError } from "./errors.js";
import { qemuBinaryName } from "./guest-arch.js";
import { QemuExecutor } from "./qemu-executor.js";
import type { HostCapabilities } from "./host-capabilities.js";
import type { Execution, RunContext, Executor } from "./types.js";

export interface HostResources {
  cpus: number;
  memoryBytes: number;
}

export interface ExecutorFactoryOptions {
  docker?: DockerExecutor;
  qemu?: QemuExecutor;
  resources?: HostResources;
}

/**
 * Picks the runner for a job from its suite type, after checking that this host can honour
 * it: an engine that answers, a qemu binary for its architecture, a KVM that really runs
 * guests when the job's labels ask for `kvm`,
 * and enough CPUs and memory. Each check fails at once with what to fix, never by hanging.
 */
export class ExecutorFactory {
  readonly docker: DockerExecutor;
  readonly qemu: QemuExecutor;
  private readonly resources: HostResources;
  private dockerReady: Promise<void> | undefined;

  constructor(options: ExecutorFactoryOptions = {}) {
    this.docker = options.docker ?? new DockerExecutor();
    this.qemu = options.qemu ?? new QemuExecutor();
    this.resources = options.resources ?? { cpus: hostCpus().length, memoryBytes: totalmem() };
  }

  /** Checks that this host can run `job`, then runs it with the runner of its kind. */
  async execute(job: JobSpec, context: RunContext): Promise<Execution> {
    await this.forJob(job);
    if (job.runner === "build") throw new UnsupportedJobError(job.id, "kernel builds do not run as containers or guests yet");
    return job.runner === "docker" ? this.docker.execute(job, context) : this.qemu.execute(job, context);
  }

  async forJob(job: JobSpec): Promise<Executor<DockerJob> | Executor<QemuJob>> {
    if (job.cpus && job.cpus > this.resources.cpus) throw new UnsupportedJobError(job.id, `needs ${job.cpus} CPUs, the host has ${this.resources.cpus}`);
    if (job.memoryBytes && job.memoryBytes > this.resources.memoryBytes)
      throw new UnsupportedJobError(job.id, `needs ${formatSize(job.memoryBytes)} of memory, the host has ${formatSize(this.resources.memoryBytes)}`);
    if (job.runner === "docker") {
      this.dockerReady ??= this.docker.ping();
      await this.dockerReady.catch((error: unknown) => {
        this.dockerReady = undefined; // the engine may come up later: ask again next time
        throw error;
      });
      return this.docker;
    }
    const host: HostCapabilities = await this.qemu.host(job.arch);
    if (!host.qemuBinary) throw new QemuUnavailableError(qemuBinaryName(job.arch), job.arch);
    if (job.labels.includes("kvm") && !host.kvm)
      throw new UnsupportedJobError(job.id, `labels ask for kvm, and no KVM guest runs on this host (${host.accelerator?.detail ?? "not probed"})`, "host");
    return this.qemu;
  }
}
