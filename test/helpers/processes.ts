import { readdir, readFile } from "node:fs/promises";

/** PIDs of running QEMU processes: none may outlive its job. */
export async function runningQemus(sharing?: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    // `sharing`: only a VM given a folder under it (a test's own), not one another process of this machine runs.
    if (sharing !== undefined && !cmdline.includes(`path=${sharing}`)) continue;
    if (/(^|\/)qemu-system-/.test(cmdline.split("\0")[0] ?? "")) found.push(pid);
  }
  return found;
}
