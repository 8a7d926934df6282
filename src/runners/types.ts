import type { BuildOutputFile, JobSpec, Outcome, TerminalState } from "../config/job-spec.js";
import type { BuildJobResult } from "./build/build-job.js";
import type { StackFrame } from "./build/decode-stack.js";
import type { CapturedOutput } from "./captured-output.js";
import type { ArtifactEntry } from "./artifacts.js";
import type { ParsedResults } from "./results/types.js";

export type { Outcome, TerminalState };

export interface RunMetrics {
  wallMs: number;
  /** CPU time of the container or VM; null when the job ended before it could be sampled. */
  cpuMs: number | null;
  memoryPeakBytes: number | null;
  /** QEMU: from process start to the first line of init. */
  bootMs?: number | null;
  imagePullMs?: number;
}

export interface BootInfo {
  path: "fast" | "standard";
  accelerator: "kvm" | "tcg";
  machine: string;
  /** Why this path: e.g. "vmlinux extracted (xz), PVH entry, qboot" or why the fast path was not possible. */
  detail: string;
}

/** What a runner observed; `finishJob` turns it into a RunResult. */
export interface Execution {
  exitCode: number | null;
  startedAt: Date;
  finishedAt: Date;
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  /** QEMU's serial console; for Docker jobs the stdout is the console. */
  console?: CapturedOutput;
  timedOut: boolean;
  cancelled: boolean;
  /** Set by runners that see more than an exit code (QEMU's console). */
  outcome?: Outcome;
  reason?: string;
  metrics: RunMetrics;
  boot?: BootInfo;
  /** Host directory the job wrote results into (mounted at /results). */
  resultsDir: string;
}

export interface RunResult {
  jobId: string;
  status: TerminalState;
  outcome: Outcome;
  reason: string;
  exitCode: number | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  results: ParsedResults | null;
  metrics: RunMetrics;
  boot?: BootInfo;
  artifacts: ArtifactEntry[];
  /** Files written under the job's output dir, relative to it. */
  logs: { stdout: string; stderr: string; console?: string };
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  /** A build job's build: its outputs, diagnostics, ccache use and dropped options. */
  build?: BuildJobResult;
  /** The stack trace of the oops or panic that ended the job, decoded with its build's vmlinux. */
  stackTrace?: StackFrame[];
}

export type ProgressEvent =
  | { kind: "phase"; jobId: string; phase: "pulling" | "preparing" | "building" | "booting" | "running" | "collecting" }
  | { kind: "output"; jobId: string; bytes: number };

export interface RunContext {
  /** Host directory the job sees read-only at /workspace. */
  workspace: string;
  /** The job's own directory: the runner puts its results dir here; logs and artifacts follow. */
  jobDir: string;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  streamCapBytes?: number;
  /** For a job that boots a build: that build's output dir on this host, and what each file must hash to. */
  build?: BuildOutputs;
}

/** A build's outputs as a job that boots them finds them: checked against the digests before use. */
export interface BuildOutputs {
  dir: string;
  files: BuildOutputFile[];
}

export interface Executor<J extends JobSpec = JobSpec> {
  readonly kind: J["runner"];
  execute(job: J, context: RunContext): Promise<Execution>;
}
