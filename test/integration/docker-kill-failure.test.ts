import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { OWNER_LABEL } from "../../src/runners/docker-options.js";
import { ownerMark } from "../../src/runners/leftovers.js";
import { GRANTS_EVERYTHING, job, withTempDir } from "../helpers/job.js";

/**
 * A job's container the engine will not kill at the job's timeout or cancellation: the job
 * does not wait on past its limit, it errors with the engine's answer as its cause, and
 * the forced removal still leaves nothing of it.
 */

const refusal = () => Object.assign(new Error("(HTTP code 500) server error - cannot kill container: permission denied"), { statusCode: 500 });

/** An engine whose containers refuse to be killed, and a runner on it marked as `owner`. */
function runnerRefusingKills(owner: string): { docker: Docker; runner: DockerExecutor; kills: () => number } {
  const docker = new Docker();
  let kills = 0;
  const create = docker.createContainer.bind(docker) as (options: Docker.ContainerCreateOptions) => Promise<Docker.Container>;
  docker.createContainer = (async (options: Docker.ContainerCreateOptions) => {
    const container = await create(options);
    container.kill = (async () => {
      kills += 1;
      throw refusal();
    }) as Docker.Container["kill"];
    return container;
  }) as Docker["createContainer"];
  return { docker, runner: new DockerExecutor({ docker, owner, policy: async () => GRANTS_EVERYTHING }), kills: () => kills };
}

describe("a container the engine will not kill", () => {
  it.each(["timeout", "cancellation"] as const)("at the job's %s errors the job with the engine's answer, and removes the container", async (limit) => {
    const owner = ownerMark();
    const { docker, runner, kills } = runnerRefusingKills(owner);
    const abort = new AbortController();
    const started = Date.now();
    const failure = await withTempDir((dir) => {
      const running = runner.execute(job({ command: "sleep 60", timeoutMs: limit === "timeout" ? 1_000 : 60_000 }), {
        workspace: dir,
        jobDir: join(dir, "job"),
        signal: abort.signal,
        onProgress: (event) => {
          if (limit === "cancellation" && event.kind === "phase" && event.phase === "running") setTimeout(() => abort.abort(), 1_000);
        },
      });
      return running.then(
        () => null,
        (error: unknown) => error,
      );
    });
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe(
      `killing the container at the job's ${limit} failed: (HTTP code 500) server error - cannot kill container: permission denied`,
    );
    expect((failure as Error).cause).toMatchObject({ statusCode: 500 });
    expect(kills()).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } })).toEqual([]);
  });
});
