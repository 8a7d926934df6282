import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";

/**
 * The mark a kto process puts on its containers (a label) and its processes (KTO_OWNER):
 * `host:pid:nonce`. The pid tells whether the process is gone; the nonce keeps two
 * processes apart that had the same pid, one after the other (pids come round again,
 * after 32,768 on many hosts) or side by side in two pid namespaces: a post step removing
 * its dead job's leftovers by mark never takes another runner instance's running job.
 */
export function ownerMark(): string {
  return `${hostname()}:${process.pid}:${randomBytes(8).toString("hex")}`;
}

/** True while a process exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** An owner mark (`host:pid:nonce`, or an older `host:pid`) of a kto process on this host that no longer exists. */
export function ownerIsGone(owner: string): boolean {
  const [host, pid] = owner.split(":");
  return host === hostname() && pid !== undefined && /^\d+$/.test(pid) && !processAlive(Number(pid));
}

/**
 * Kills processes (QEMU, and whatever a job started outside a container) whose inherited
 * KTO_OWNER mark matches: the environment is the one mark a child cannot lose by
 * renaming itself or changing its process group.
 */
export async function killMarkedProcesses(matches: (owner: string) => boolean): Promise<number> {
  let killed = 0;
  // Without /proc (not Linux) there is no process to find; one whose environ cannot be read (another
  // user's, or gone meanwhile) is none of kto's to kill.
  for (const pid of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const environ = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "");
    const owner = environ
      .split("\0")
      .find((v) => v.startsWith("KTO_OWNER="))
      ?.slice("KTO_OWNER=".length);
    if (!owner || !matches(owner)) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
      killed += 1;
    } catch {
      // already gone
    }
  }
  return killed;
}
