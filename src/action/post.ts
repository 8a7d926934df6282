import * as core from "@actions/core";
import { readdir, readFile } from "node:fs/promises";
import Docker from "dockerode";
import { OWNER_LABEL } from "../runners/docker-options.js";
import { OWNER_STATE } from "./run.js";

/** Removes whatever a killed job left: its containers, and processes (QEMU) that carry its owner mark. */
export async function post(): Promise<void> {
  const owner = core.getState(OWNER_STATE);
  if (!owner) return;
  let removed = 0;
  try {
    const docker = new Docker();
    const containers = await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } });
    for (const c of containers) {
      await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
      removed += 1;
    }
  } catch {
    // no engine: nothing of ours can be left there
  }
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
    if (!environ.split("\0").includes(`KTO_OWNER=${owner}`)) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
      removed += 1;
    } catch {
      // already gone
    }
  }
  if (removed > 0) core.info(`kto: removed ${removed} leftovers of the job`);
}
