import type { Outcome } from "./types.js";

const PANIC = /Kernel panic - not syncing/;
const OOPS = /\bOops\b|BUG: unable to handle|BUG: kernel NULL pointer|general protection fault/;
const KERNEL_INIT = /Run \S+ as init process|Freeing unused kernel (?:image )?memory/;

export interface ConsoleFacts {
  initSeen: boolean;
  exitStatus: number | null;
  panic: string | null;
  oops: string | null;
  setupFailure: string | null;
}

/** What a guest console says happened. `nonce` is the job's: a test cannot fake kto's markers. */
export function readConsole(text: string, nonce: string | null): ConsoleFacts {
  const facts: ConsoleFacts = { initSeen: false, exitStatus: null, panic: null, oops: null, setupFailure: null };
  const exitMarker = nonce ? new RegExp(`kto-exit-${nonce}: (\\d+)`) : null;
  for (const line of text.split("\n")) {
    if (nonce ? line.includes(`kto-init-${nonce}`) : KERNEL_INIT.test(line)) facts.initSeen = true;
    const exit = exitMarker?.exec(line);
    if (exit) facts.exitStatus = Number(exit[1]);
    if (!facts.panic && PANIC.test(line)) facts.panic = line.slice(line.search(PANIC)).trim();
    if (!facts.oops && OOPS.test(line)) facts.oops = line.trim();
    if (nonce && !facts.setupFailure && line.includes(`kto-setup-failed-${nonce}:`)) facts.setupFailure = line.slice(line.indexOf(":") + 1).trim();
  }
  return facts;
}

export interface VmEnding {
  timedOut: boolean;
  cancelled: boolean;
  hung: boolean;
  qemuExitCode: number | null;
  /** Whether the guest printed anything at all (firmware noise aside). */
  printed: boolean;
}

/** The named outcome of a VM run: panic, oops, hang and a boot that never reached init are distinct. */
export function vmOutcome(facts: ConsoleFacts, ending: VmEnding, guestMode: boolean): { outcome: Outcome; reason: string } | null {
  if (ending.cancelled) return { outcome: "cancelled", reason: "cancelled" };
  if (facts.panic) {
    return facts.initSeen
      ? { outcome: "kernel_panic", reason: facts.panic }
      : { outcome: "boot_failure", reason: `the kernel panicked before init: ${facts.panic}` };
  }
  if (ending.timedOut) return { outcome: "timed_out", reason: "the job ran past its timeout" };
  if (ending.hung) return { outcome: "hang", reason: "no console output for the idle limit" };
  if (facts.oops) return { outcome: "oops", reason: facts.oops };
  if (!facts.initSeen && guestMode) {
    return {
      outcome: "boot_failure",
      reason: ending.printed
        ? "the kernel started but never reached kto's init: see console.log for where it stopped"
        : "the kernel printed nothing and the guest powered off: check that it has a serial console for its architecture",
    };
  }
  if (facts.setupFailure) return { outcome: "boot_failure", reason: facts.setupFailure };
  if (guestMode && facts.exitStatus === null) {
    return { outcome: "failed", reason: "the guest powered off without reporting the command's exit status" };
  }
  return null;
}
