import { removeContainer } from "./container-removal.js";
import { mkdir, chmod } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import Docker from "dockerode";
import { ConfigError } from "../config/errors.js";
import { hostPolicyPath, loadHostPolicy, RUNNER_DEFAULT, type HostPolicy } from "../config/host-policy.js";
import type { DockerJob } from "../config/job-spec.js";
import { OutputCapture } from "./captured-output.js";
import { dockerCreateOptions, OWNER_LABEL } from "./docker-options.js";
import { ownerIsGone, ownerMark } from "./leftovers.js";
import { demuxStreams, ensureImage, waitWithLimits, withTimeout } from "./container-run.js";
import { DockerUnavailableError, HostPolicyError } from "./errors.js";
import { grantPrivileges } from "./privilege-grant.js";
import type { Execution, RunContext, Executor } from "./types.js";

export interface DockerExecutorOptions {
  docker?: Docker;
  /** Identifies this kto process on its containers, so leftovers can be swept. */
  owner?: string;
  /**
   * What this host lets a job have, read as each job starts. By default the runner host's
   * policy file, and nothing at all without one.
   */
  policy?: () => Promise<HostPolicy>;
}

interface StatsSample {
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; max_usage?: number };
}

export class DockerExecutor implements Executor<DockerJob> {
  readonly kind = "docker" as const;
  readonly docker: Docker;
  private readonly owner: string;
  private readonly policy: () => Promise<HostPolicy>;

  constructor(options: DockerExecutorOptions = {}) {
    this.docker = options.docker ?? new Docker();
    this.owner = options.owner ?? ownerMark();
    this.policy = options.policy ?? (() => loadHostPolicy(hostPolicyPath(), RUNNER_DEFAULT));
  }

  /** Fails fast with DockerUnavailableError when no engine answers. */
  async ping(timeoutMs = 5000): Promise<void> {
    const endpoint = process.env.DOCKER_HOST ?? "/var/run/docker.sock";
    try {
      await withTimeout(this.docker.ping(), timeoutMs, "no answer");
    } catch (error) {
      throw new DockerUnavailableError(endpoint, error);
    }
  }

  async execute(job: DockerJob, context: RunContext): Promise<Execution> {
    // Before anything is pulled or created: a job the host does not grant leaves no trace on it.
    const granted = grantPrivileges(job, await this.hostPolicy());
    const resultsDir = join(context.jobDir, "results");
    await mkdir(resultsDir, { recursive: true });
    await chmod(resultsDir, 0o777); // written by the container's unprivileged user

    const pullStarted = Date.now();
    const pulled = await ensureImage(this.docker, job.image, () => context.onProgress?.({ kind: "phase", jobId: job.id, phase: "pulling" }));
    const imagePullMs = pulled ? Date.now() - pullStarted : undefined;

    const name = `kto-${job.slug.slice(0, 40)}-${randomBytes(4).toString("hex")}`;
    const stdout = new OutputCapture(context.streamCapBytes);
    const stderr = new OutputCapture(context.streamCapBytes);
    let container: Docker.Container | undefined;
    let stream: Readable | undefined;
    let stats: StatsWatcher | undefined;
    try {
      container = await this.docker.createContainer(dockerCreateOptions(job, granted, name, { workspace: context.workspace, resultsDir }, this.owner));
      stream = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as Readable;
      const streamEnded = demuxStreams(
        this.docker,
        stream,
        (chunk) => {
          stdout.write(chunk);
          context.onProgress?.({ kind: "output", jobId: job.id, bytes: stdout.bytesSeen });
        },
        (chunk) => stderr.write(chunk),
      );
      stats = new StatsWatcher(container);

      context.onProgress?.({ kind: "phase", jobId: job.id, phase: "running" });
      const startedAt = new Date();
      await container.start();
      stats.start();
      const ending = await waitWithLimits(container, job.timeoutMs, context.signal);
      const finishedAt = new Date();
      stats.stop();
      // The engine ends the log stream as the container exits; one that has not ended in 10 s
      // is closed here, so that it cannot hold the process open.
      await withTimeout(streamEnded, 10_000, "log stream did not end").catch(() => stream?.destroy());

      return {
        exitCode: ending.exitCode,
        startedAt,
        finishedAt,
        stdout: stdout.result(),
        stderr: stderr.result(),
        timedOut: ending.reason === "timeout",
        cancelled: ending.reason === "cancel",
        metrics: {
          wallMs: finishedAt.getTime() - startedAt.getTime(),
          cpuMs: stats.cpuMs,
          memoryPeakBytes: stats.memoryPeakBytes,
          ...(imagePullMs !== undefined ? { imagePullMs } : {}),
        },
        resultsDir,
      };
    } finally {
      // Whatever failed (the engine restarting mid-wait), no stream of this job outlives it.
      stats?.stop();
      stream?.destroy();
      if (container) await removeContainer(container);
    }
  }

  private async hostPolicy(): Promise<HostPolicy> {
    try {
      return await this.policy();
    } catch (error) {
      if (error instanceof ConfigError) throw new HostPolicyError(error.message);
      throw error;
    }
  }

  /** Removes containers of kto processes on this host that no longer exist (killed before cleanup). */
  async sweepOrphans(): Promise<number> {
    const all = await this.docker.listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
    const orphans = all.filter((c) => ownerIsGone(c.Labels[OWNER_LABEL] ?? ""));
    await Promise.all(orphans.map((c) => removeContainer(this.docker.getContainer(c.Id))));
    return orphans.length;
  }
}

/**
 * Samples the engine's stats stream; the last sample before exit is the job's CPU time and
 * peak memory. The stream is requested as the job starts and may answer after a short job
 * has already ended: `stop()` aborts the request too, since an answer that arrives after it
 * would otherwise stay open (the engine keeps a stream for a container it is removing) and
 * keep the whole action alive after its report.
 */
export class StatsWatcher {
  cpuMs: number | null = null;
  memoryPeakBytes: number | null = null;
  private readonly abort = new AbortController();
  private stream: Readable | undefined;

  constructor(private readonly container: Docker.Container) {}

  start(): void {
    // dockerode passes abortSignal on to the request; its type declarations omit it.
    const options = { stream: true, abortSignal: this.abort.signal } as { stream: true };
    this.container
      .stats(options)
      .then((stream) => {
        this.stream = stream as unknown as Readable;
        if (this.abort.signal.aborted) {
          this.stream.destroy();
          return;
        }
        let buffered = "";
        this.stream.on("data", (chunk: Buffer) => {
          buffered += chunk.toString("utf8");
          let newline: number;
          while ((newline = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, newline);
            buffered = buffered.slice(newline + 1);
            if (line.trim()) this.take(line);
          }
        });
        // A stream that breaks off leaves the samples taken so far.
        this.stream.on("error", () => undefined);
      })
      .catch(() => undefined); // no samples: the metrics stay null
  }

  stop(): void {
    this.abort.abort();
    this.stream?.destroy();
  }

  private take(line: string): void {
    let sample: StatsSample;
    try {
      sample = JSON.parse(line) as StatsSample;
    } catch {
      return; // not a sample: the metrics are a best effort, the job's result is not
    }
    const cpu = sample.cpu_stats?.cpu_usage?.total_usage;
    if (cpu) this.cpuMs = Math.max(this.cpuMs ?? 0, Math.round(cpu / 1e6));
    const memory = Math.max(sample.memory_stats?.max_usage ?? 0, sample.memory_stats?.usage ?? 0);
    if (memory) this.memoryPeakBytes = Math.max(this.memoryPeakBytes ?? 0, memory);
  }
}
