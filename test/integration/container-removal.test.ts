import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import Docker from "dockerode";
import { removeContainer } from "../../src/runners/container-removal.js";
import { BUSYBOX_IMAGE, withTempDir } from "../helpers/job.js";

const docker = new Docker();

describe("removing a job's container", () => {
  it("removes a running container even when another removal of it is under way, and both say it is gone", async () => {
    const container = await docker.createContainer({ Image: BUSYBOX_IMAGE, Cmd: ["sleep", "300"] });
    await container.start();
    const answers = await Promise.all([removeContainer(container, 50), removeContainer(docker.getContainer(container.id), 50)]);
    expect(answers).toEqual([true, true]);
    await expect(container.inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("says so when the engine cannot be reached, after trying again", async () => {
    await withTempDir(async (dir) => {
      const nowhere = new Docker({ socketPath: join(dir, "no-engine.sock") });
      expect(await removeContainer(nowhere.getContainer("kto-none"), 20)).toBe(false);
    });
  });
});
