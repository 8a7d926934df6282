import { arch } from "node:os";
import type { EnvironmentPool } from "../orchestrator/resource-manager.js";
import type { EnvironmentRecord } from "../orchestrator/store/store.js";
import type { HostCapabilities } from "../runners/host-capabilities.js";

export const RUNNER_LABEL_PREFIX = "kto.runner=";

/** The labels a job needs locally: its own plus its runner kind, so a Docker job never lands on a QEMU-only host. */
export function localJobLabels(labels: readonly string[], runner: "docker" | "qemu"): string[] {
  return [...new Set([...labels, `${RUNNER_LABEL_PREFIX}${runner}`])].sort();
}

export function hostLabels(host: HostCapabilities, dockerReachable: boolean): string[] {
  const machine = arch() === "x64" ? "x86_64" : arch() === "arm64" ? "arm64" : arch();
  const labels = [machine, "linux", "local"];
  if (dockerReachable) labels.push(`${RUNNER_LABEL_PREFIX}docker`, "docker");
  if (host.qemuBinary) labels.push(`${RUNNER_LABEL_PREFIX}qemu`, "qemu");
  if (host.kvm) labels.push("kvm");
  return labels.sort();
}

/** This machine as one environment with `--jobs` slots, named for the kto process that owns it. */
export class LocalPool implements EnvironmentPool {
  readonly name = "local";

  constructor(
    private readonly owner: string,
    private readonly slots: number,
    private readonly labels: string[],
    private readonly now: () => number = Date.now,
  ) {}

  get environmentId(): string {
    return `local@${this.owner}`;
  }

  async list(): Promise<EnvironmentRecord[]> {
    return [{ id: this.environmentId, pool: this.name, labels: this.labels, capacity: this.slots, state: "online", lastSeen: this.now() }];
  }
}
