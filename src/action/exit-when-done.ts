import * as core from "@actions/core";

/**
 * The runner waits for the action's process to exit before the step ends, and a handle left
 * open by any library (a socket, a stream, a timer) would hold the runner for the workflow's
 * whole timeout after the job has reported. Once the work is done, a grace period is all it gets.
 */
export function exitWhenDone(graceMs = graceFromEnv()): void {
  setTimeout(() => {
    const open = process.getActiveResourcesInfo().filter((kind) => kind !== "Timeout");
    core.warning(`kto: the job is done but ${open.join(", ") || "a timer"} still held the action open after ${graceMs} ms; exiting`);
    process.exit();
  }, graceMs).unref();
}

/** KTO_EXIT_GRACE_MS, for tests; anything but a whole number of milliseconds is the default. */
function graceFromEnv(): number {
  const raw = process.env.KTO_EXIT_GRACE_MS ?? "";
  return /^\d{1,9}$/.test(raw) ? Number(raw) : 10_000;
}
