import { readFile } from "node:fs/promises";
import { describe, expect, it } from "@jest/globals";
import { HostFactsError, labelsForHost, parseLspci, runnerNameOf, type HostFacts } from "../../src/runners/host-labels.js";

async function recorded(host: string): Promise<HostFacts> {
  const dir = new URL(`../fixtures/hosts/${host}/`, import.meta.url);
  const read = (file: string) => readFile(new URL(file, dir), "utf8");
  const { guests, hostname } = JSON.parse(await read("host.json")) as Pick<HostFacts, "guests" | "hostname">;
  return { lscpu: await read("lscpu.txt"), meminfo: await read("meminfo"), pci: parseLspci(await read("lspci.txt")), guests, hostname };
}

const upTo = (prefix: string, suffix: string, top: number) => Array.from({ length: Math.log2(top) }, (_, i) => `${prefix}${2 ** (i + 1)}${suffix}`);

describe("hardware detection turns a recorded host into runner labels", () => {
  it("a cloud VM without KVM or GPU: architecture, CPU and memory classes, its unique label", async () => {
    const host = labelsForHost(await recorded("epyc-cloud-vm"));
    expect(host.labels).toEqual(["x86_64", "qemu-x86_64", "cpu-2", ...upTo("mem-", "g", 16), "kto-runner-ci-vm-internal"]);
    expect(host).toMatchObject({ arch: "x86_64", cpus: 2, gpus: [], memoryGiB: 23.5 });
  });

  it("an arm64 server: aarch64 is called arm64, KVM, 80 CPUs reach cpu-64, 251 GiB reach mem-256g, the NVIDIA 3D controller but not the BMC's display", async () => {
    const host = labelsForHost(await recorded("ampere-altra-nvidia"), { name: "altra-01-a" });
    expect(host.labels).toEqual([
      "arm64",
      "kvm",
      "qemu-x86_64",
      "qemu-arm64",
      ...upTo("cpu-", "", 64),
      ...upTo("mem-", "g", 256),
      "gpu-nvidia",
      "kto-runner-altra-01-a",
    ]);
    expect(host.gpus).toEqual(["nvidia"]);
  });

  it("a workstation: a 32 GiB host reporting 31.1 GiB is still mem-32g; both GPU vendors; the hostname made a label", async () => {
    const host = labelsForHost(await recorded("intel-workstation"));
    expect(host.labels).toEqual([
      "x86_64",
      "kvm",
      "qemu-x86_64",
      "qemu-arm64",
      "cpu-2",
      "cpu-4",
      "cpu-8",
      ...upTo("mem-", "g", 32),
      "gpu-amd",
      "gpu-intel",
      "kto-runner-dev-box",
    ]);
  });

  it("a nested VM whose /dev/kvm opens but runs no guest: no kvm label, and the labels say it boots x86_64 and arm64 guests by emulation", async () => {
    const host = labelsForHost(await recorded("nested-kvm-broken"));
    expect(host.labels).toEqual(["x86_64", "qemu-x86_64", "qemu-arm64", "cpu-2", ...upTo("mem-", "g", 16), "kto-runner-nested-vm"]);
    expect(host.guests[0]!.detail).toMatch(/aborted \(SIGABRT\): failed to set MSR 0x10a/);
  });

  it("names what is missing in unreadable facts", async () => {
    const good = await recorded("intel-workstation");
    expect(() => labelsForHost({ ...good, lscpu: "CPU(s): 4\n" })).toThrow(new HostFactsError("lscpu", "no Architecture line"));
    expect(() => labelsForHost({ ...good, lscpu: "Architecture: x86_64\nCPU(s): many\n" })).toThrow(/lscpu: CPU\(s\) is not a count: many/);
    expect(() => labelsForHost({ ...good, meminfo: "MemFree: 1 kB\n" })).toThrow(/\/proc\/meminfo: no MemTotal line/);
  });

  it("runner names keep only what a label can carry", () => {
    expect(runnerNameOf("Rack 3/Slot_7")).toBe("rack-3-slot-7");
    expect(runnerNameOf("---")).toBe("runner");
  });
});
