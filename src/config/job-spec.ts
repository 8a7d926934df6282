import type { DockerDevice, LinuxCapability } from "./docker-access.js";
import type { GuestArch, ResultFormat } from "./schema.js";

/** One job of a plan: a suite with one matrix combination applied, every default resolved. */
/** How a job can end: DESIGN.md's terminal states, shared by the runners, the orchestrator and the App. */
export const JOB_STATUSES = ["succeeded", "failed", "timed_out", "cancelled", "errored"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobSpec {
  /** Unique within a plan: the suite name, then the matrix values, e.g. `selftests (arch=arm64)`. */
  id: string;
  /** Filesystem-safe form of `id`, used for directories and container names. */
  slug: string;
  suite: string;
  matrix: Record<string, string>;
  runner: "docker" | "qemu";
  command?: string | string[];
  env: Record<string, string>;
  results: ResultFormat;
  resultsFile?: string;
  labels: string[];
  memoryBytes?: number;
  cpus?: number;
  timeoutMs: number;
  retries: number;
  priority: number;
  artifacts: string[];
  // docker
  image?: string;
  network: boolean;
  // Opt-ins beyond the isolation defaults, absent unless the suite asks, so a spec without them
  // still parses in an Action that predates them.
  /** Numeric `uid:gid`; absent means nobody (65534:65534). */
  user?: string;
  /** Added back after every capability is dropped. */
  capabilities?: LinuxCapability[];
  /** Host device nodes passed through. */
  devices?: DockerDevice[];
  // qemu
  arch: GuestArch;
  kernel?: string;
  initramfs?: string;
  modules?: string;
  append?: string;
  disk?: string;
  idleTimeoutMs: number;
}

export interface Plan {
  /** The config file the plan was built from. */
  source: string;
  jobs: JobSpec[];
}
