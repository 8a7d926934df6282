import * as core from "@actions/core";
import Docker from "dockerode";
import { OWNER_LABEL } from "../runners/docker-options.js";
import { removeContainer } from "../runners/container-removal.js";
import { killMarkedProcesses } from "../runners/leftovers.js";
import { OWNER_STATE } from "./run.js";
import { printLog } from "./workflow-log.js";

/** Removes whatever a killed job left: its containers, and processes (QEMU) that carry its owner mark. */
export async function post(): Promise<void> {
  const owner = core.getState(OWNER_STATE);
  if (!owner) return;
  let removed = 0;
  try {
    const docker = new Docker();
    const containers = await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } });
    for (const c of containers) {
      if (await removeContainer(docker.getContainer(c.Id))) removed += 1;
    }
  } catch {
    // no engine: nothing of ours can be left there
  }
  removed += await killMarkedProcesses((mark) => mark === owner);
  if (removed > 0) printLog(`kto: removed ${removed} leftovers of the job`);
}
