import type { JobSpec } from "../config/job-spec.js";
import { arch } from "node:os";
import { bootLabel, hostArch } from "../runners/guest-arch.js";
import type { RunnerPool } from "../orchestrator/resource-manager.js";
import { UNRESTRICTED } from "../orchestrator/scope.js";
import type { RunnerRecord } from "../orchestrator/store/store.js";
import type { HostCapabilities } from "../runners/host-capabilities.js";

/** The label that says which of kto's runners (docker, qemu) a local job needs: not a GitHub runner's kto-runner-<name>. */
export const RUNNER_KIND_LABEL_PREFIX = "kto.runner=";

/**
 * The labels a job needs locally: its own plus its runner kind, so a Docker job never lands
 * on a QEMU-only host. A kernel build runs in a container: it needs Docker.
 */
export function localJobLabels(labels: readonly string[], runner: JobSpec["runner"]): string[] {
  return [...new Set([...labels, `${RUNNER_KIND_LABEL_PREFIX}${runner === "build" ? "docker" : runner}`])].sort();
}

/** This machine's labels, from what was probed: `kvm` only when a KVM guest really ran, `qemu-<arch>` per bootable architecture. */
export function hostLabels(guests: HostCapabilities[], dockerReachable: boolean): string[] {
  const machine = hostArch() ?? arch();
  const labels = [machine, "linux", "local"];
  if (dockerReachable) labels.push(`${RUNNER_KIND_LABEL_PREFIX}docker`, "docker");
  const bootable = guests.filter((host) => host.qemuBinary && host.accelerator?.bootable !== false);
  if (bootable.length) labels.push(`${RUNNER_KIND_LABEL_PREFIX}qemu`, "qemu", ...bootable.map((host) => bootLabel(host.arch)));
  if (guests.some((host) => host.arch === hostArch() && host.kvm)) labels.push("kvm");
  return [...new Set(labels)].sort();
}

/** This machine as one runner with `--jobs` slots, named for the kto process that owns it. */
export class LocalPool implements RunnerPool {
  readonly name = "local";

  constructor(
    private readonly owner: string,
    private readonly slots: number,
    private readonly labels: string[],
    private readonly now: () => number = Date.now,
  ) {}

  get runnerKey(): string {
    return `local@${this.owner}`;
  }

  /**
   * Unrestricted in scope: a `kto run` runs the plan of one local checkout in a store of its
   * own, so there are no repositories whose jobs this machine must keep apart.
   */
  async list(): Promise<RunnerRecord[]> {
    return [
      {
        id: this.runnerKey,
        pool: this.name,
        labels: this.labels,
        capacity: this.slots,
        state: "online",
        lastSeen: this.now(),
        owner: this.owner,
        scope: UNRESTRICTED,
      },
    ];
  }
}
