import { cpus as hostCpus, totalmem } from "node:os";
import type { BuildJob, DockerJob, JobSpec, QemuJob } from "../config/job-spec.js";
import { formatSize } from "../config/size.js";
import { DockerExecutor } from "./docker-executor.js";
import { QemuUnavailableError, UnsupportedJobError } from "./errors.js";
import { qemuBinaryName } from "./guest-arch.js";
import { QemuExecutor } from "./qemu-executor.js";
import type { HostCapabilities } from "./host-capabilities.js";
import { ccacheSettings, runBuildJob, type CcacheSettings } from "./build/build-job.js";
import type { Execution, RunContext, Executor, RunResult } from "./types.js";

/** What runs a build job: the builder image, through the same engine as a docker job. */
const BUILDER = { kind: "build" } as const;

export interface HostResources {
  cpus: number;
  memoryBytes: number;
}

export interface ExecutorFactoryOptions {
  docker?: DockerExecutor;
  qemu?: QemuExecutor;
  resources?: HostResources;
  /** The compiler cache kernel builds share; a developer's own cache dir unless said. */
  ccache?: CcacheSettings;
  /** Marks this kto process on the build containers, so leftovers can be swept. */
  owner?: string;
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
  readonly ccache: CcacheSettings;
  private readonly owner: string | undefined;
  private dockerReady: Promise<void> | undefined;

  constructor(options: ExecutorFactoryOptions = {}) {
    this.docker = options.docker ?? new DockerExecutor();
    this.qemu = options.qemu ?? new QemuExecutor();
    this.resources = options.resources ?? { cpus: hostCpus().length, memoryBytes: totalmem() };
    this.ccache = options.ccache ?? ccacheSettings("user");
    this.owner = options.owner;
  }

  /** Checks that this host can run `job`, then runs it with the runner of its kind. */
  async execute(job: DockerJob | QemuJob, context: RunContext): Promise<Execution> {
    await this.forJob(job);
    return job.runner === "docker" ? this.docker.execute(job, context) : this.qemu.execute(job, context);
  }

  /** Checks that this host can build `job` (an engine, the CPUs and memory it asks for), then builds it. */
  async build(job: BuildJob, context: RunContext): Promise<RunResult> {
    await this.forJob(job);
    return runBuildJob(job, context, { ccache: this.ccache, ...(this.owner ? { owner: this.owner } : {}) });
  }

  async forJob(job: JobSpec): Promise<Executor<DockerJob> | Executor<QemuJob> | typeof BUILDER> {
    if (job.cpus && job.cpus > this.resources.cpus) throw new UnsupportedJobError(job.id, `needs ${job.cpus} CPUs, the host has ${this.resources.cpus}`);
    if (job.memoryBytes && job.memoryBytes > this.resources.memoryBytes)
      throw new UnsupportedJobError(job.id, `needs ${formatSize(job.memoryBytes)} of memory, the host has ${formatSize(this.resources.memoryBytes)}`);
    if (job.runner === "docker" || job.runner === "build") {
      this.dockerReady ??= this.docker.ping();
      await this.dockerReady.catch((error: unknown) => {
        this.dockerReady = undefined; // the engine may come up later: ask again next time
        throw error;
      });
      return job.runner === "docker" ? this.docker : BUILDER;
    }
    const host: HostCapabilities = await this.qemu.host(job.arch);
    if (!host.qemuBinary) throw new QemuUnavailableError(qemuBinaryName(job.arch), job.arch);
    if (job.labels.includes("kvm") && !host.kvm)
      throw new UnsupportedJobError(job.id, `labels ask for kvm, and no KVM guest runs on this host (${host.accelerator?.detail ?? "not probed"})`, "host");
    return this.qemu;
  }
}
