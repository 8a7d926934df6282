import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { StatsWatcher } from "../../src/runners/docker-executor.js";
import { withTempDir } from "../helpers/job.js";
import { until } from "../helpers/until.js";

/**
 * The engine's stats endpoint as it behaves for a container that is being removed: it answers
 * late, then keeps the stream open with no end. Served over HTTP on a unix socket, as dockerd is.
 */
class StatsEndpoint {
  readonly opened: IncomingMessage[] = [];
  closed = 0;
  private release: () => void = () => undefined;
  private readonly answer = new Promise<void>((resolve) => (this.release = resolve));
  private readonly streams = new Set<NodeJS.Timeout>();
  private readonly server = createServer((req, res) => void this.serve(req, res));

  listen(socketPath: string): Promise<void> {
    return new Promise((resolve) => this.server.listen(socketPath, resolve));
  }

  /** Lets the held stats request answer. */
  answerNow(): void {
    this.release();
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.opened.push(req);
    res.on("close", () => this.closed++);
    await this.answer;
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": "application/json" });
    const sample = () => res.write(`${JSON.stringify({ cpu_stats: { cpu_usage: { total_usage: 5e6 } }, memory_stats: { usage: 4096 } })}\n`);
    sample();
    const timer = setInterval(sample, 20);
    this.streams.add(timer);
    res.on("close", () => clearInterval(timer));
  }

  close(): Promise<void> {
    for (const timer of this.streams) clearInterval(timer);
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe("the Docker executor's stats stream", () => {
  let endpoint: StatsEndpoint | undefined;
  afterEach(async () => endpoint?.close());

  it("is closed when the job ends before the engine answers the stats request", async () => {
    await withTempDir(async (dir) => {
      endpoint = new StatsEndpoint();
      const socketPath = join(dir, "docker.sock");
      await endpoint.listen(socketPath);
      const watcher = new StatsWatcher(new Docker({ socketPath }).getContainer("c1"));
      watcher.start();
      await until(() => endpoint!.opened.length === 1, "the stats request reaches the engine");
      // A job of a few milliseconds: it has ended before the engine answers.
      watcher.stop();
      endpoint.answerNow();
      await until(() => endpoint!.closed === 1, "the stats connection is closed by the runner", 5000);
      expect(watcher.cpuMs).toBeNull();
    });
  });

  it("takes samples while the job runs and closes the stream when it ends", async () => {
    await withTempDir(async (dir) => {
      endpoint = new StatsEndpoint();
      const socketPath = join(dir, "docker.sock");
      await endpoint.listen(socketPath);
      endpoint.answerNow();
      const watcher = new StatsWatcher(new Docker({ socketPath }).getContainer("c1"));
      watcher.start();
      await until(() => watcher.cpuMs !== null, "a sample is taken");
      expect(watcher).toMatchObject({ cpuMs: 5, memoryPeakBytes: 4096 });
      watcher.stop();
      await until(() => endpoint!.closed === 1, "the stats connection is closed by the runner", 5000);
    });
  });
});
