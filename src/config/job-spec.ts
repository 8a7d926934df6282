import type { BuildTarget, BuildToolchain, KernelConfigRecipe } from "./build-schema.js";
import type { DockerDevice, LinuxCapability } from "./docker-access.js";
import type { GuestArch, ResultFormat } from "./schema.js";

/**
 * How a job can end: the terminal states of docs/architecture.md, "Job states", shared by the
 * runners, the orchestrator and the App. `skipped` is a job that never ran because the build
 * it boots did not succeed.
 */
export const TERMINAL_STATES = ["succeeded", "failed", "timed_out", "cancelled", "errored", "skipped"] as const;
export type TerminalState = (typeof TERMINAL_STATES)[number];

/** What happened, finer than the terminal state: a kernel panic and a failed assertion both end a job `failed`. */
export const OUTCOMES = [
  "passed",
  "failed",
  "timed_out",
  "cancelled",
  "kernel_panic",
  "oops",
  "hang",
  "boot_failure",
  /** Every test was skipped: nothing failed, and nothing was shown to pass either. */
  "skipped",
  /** The suite asks for something no host can give it as written (a missing kernel file, a label this host lacks): fix the config, not the machine. */
  "config_error",
  /** The host failed, not the test: retried elsewhere or with the next accelerator. */
  "infrastructure",
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What every job has, whichever runner runs it. */
interface JobBase {
  /** Unique within a plan: the suite name, then the matrix values, e.g. `selftests (arch=arm64)`. */
  id: string;
  /** Filesystem-safe form of `id`, used for directories and container names. */
  slug: string;
  /** The suite's name; a build job's is its build's (the two share one namespace). */
  suite: string;
  matrix: Record<string, string>;
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
  /** Docker's network switch; kept on every job so every spec has one shape on the wire. */
  network: boolean;
  arch: GuestArch;
  idleTimeoutMs: number;
  /**
   * "suite": the App shows the job in its suite's one check run, not a check run of its
   * own. Absent unless the suite asks, so a spec without it still parses in an Action
   * that predates it.
   */
  checkRun?: "suite";
}

export interface DockerJob extends JobBase {
  runner: "docker";
  image: string;
  command: string | string[];
  // Opt-ins beyond the isolation defaults, absent unless the suite asks, so a spec without them
  // still parses in an Action that predates them.
  /** Numeric `uid:gid`; absent means nobody (65534:65534). */
  user?: string;
  /** Added back after every capability is dropped. */
  capabilities?: LinuxCapability[];
  /** Host device nodes passed through. */
  devices?: DockerDevice[];
}

export interface QemuJob extends JobBase {
  runner: "qemu";
  kernel: string;
  /** In kto's guest mode (no initramfs), what runs inside the guest. */
  command?: string | string[];
  initramfs?: string;
  modules?: string;
  append?: string;
  disk?: string;
  /**
   * The id (in its plan) of the build job whose outputs this job boots: `kernel` and
   * `modules` then name files among that build's outputs, not the checkout's.
   */
  build?: string;
}

/** A kernel build: a `builds:` entry with one matrix combination applied. Its outputs are what dependent jobs boot. */
export interface BuildJob extends JobBase {
  runner: "build";
  toolchain: BuildToolchain;
  config: KernelConfigRecipe;
  targets: BuildTarget[];
  /** The builder image; absent means the host's default (self-hosted/provision.sh makes it). */
  image?: string;
}

/** One job of a plan: a suite or a build with one matrix combination applied, every default resolved. */
export type JobSpec = DockerJob | QemuJob | BuildJob;

/** What a build hands on, each file named by its role. */
export const BUILD_OUTPUT_ROLES = ["kernel", "vmlinux", "system-map", "config", "modules", "kselftest", "log"] as const;
export type BuildOutputRole = (typeof BUILD_OUTPUT_ROLES)[number];

export interface BuildOutputFile {
  /** Relative to the build's output dir. */
  path: string;
  role: BuildOutputRole;
  size: number;
  sha256: string;
}

/**
 * Where a job that boots a build finds that build's outputs, as its dispatch carries it:
 * the build job, the workflow run whose artifact holds the files, and each file's digest,
 * so that a copy already on the host is used only when it is the same.
 */
export interface BuildHandoff {
  /** The build job's id in the store. */
  jobId: string;
  /** The workflow run that built it; null where no run id is known (a local run). */
  runId: string | null;
  artifact: string;
  files: BuildOutputFile[];
}

/** The build job (by its id in the plan) a job waits for, if any. */
export function buildNeeded(job: JobSpec): string | undefined {
  return job.runner === "qemu" ? job.build : undefined;
}

export interface Plan {
  /** The config file the plan was built from. */
  source: string;
  jobs: JobSpec[];
}
