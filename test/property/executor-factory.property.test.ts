import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { QemuUnavailableError, UnsupportedJobError } from "../../src/runners/errors.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { detectHost } from "../../src/runners/host-capabilities.js";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { QemuExecutor } from "../../src/runners/qemu-executor.js";
import { job, qemuJob } from "../helpers/job.js";

const GiB = 1024 ** 3;
const docker = new DockerExecutor();

describe("ExecutorFactory", () => {
  it("Property 10: environment type selection — the runner matches the suite's type, or the host's lack is named", async () => {
    const detected = await detectHost("x86_64", { probe: false });
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          runner: fc.constantFrom("docker" as const, "qemu" as const),
          labels: fc.subarray(["x86_64", "kvm", "big", "gpu"]),
          cpus: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
          memoryGiB: fc.option(fc.integer({ min: 1, max: 64 }), { nil: undefined }),
        }),
        fc.record({ kvm: fc.boolean(), qemu: fc.boolean(), cpus: fc.integer({ min: 1, max: 16 }), memoryGiB: fc.integer({ min: 1, max: 64 }) }),
        async (wanted, host) => {
          const factory = new ExecutorFactory({
            docker,
            qemu: new QemuExecutor({ hosts: { x86_64: { ...detected, kvm: host.kvm, qemuBinary: host.qemu ? detected.qemuBinary : null } } }),
            resources: { cpus: host.cpus, memoryBytes: host.memoryGiB * GiB },
          });
          const needs = { labels: wanted.labels, cpus: wanted.cpus, memoryBytes: wanted.memoryGiB ? wanted.memoryGiB * GiB : undefined };
          const spec = wanted.runner === "docker" ? job(needs) : qemuJob(needs);
          const tooBig = (wanted.cpus ?? 0) > host.cpus || (wanted.memoryGiB ?? 0) > host.memoryGiB;
          const missingQemu = wanted.runner === "qemu" && !host.qemu;
          const missingKvm = wanted.runner === "qemu" && wanted.labels.includes("kvm") && !host.kvm;
          const attempt = factory.forJob(spec);
          if (tooBig) await expect(attempt).rejects.toBeInstanceOf(UnsupportedJobError);
          else if (missingQemu) await expect(attempt).rejects.toBeInstanceOf(QemuUnavailableError);
          else if (missingKvm) await expect(attempt).rejects.toThrow(/kvm/);
          else expect((await attempt).kind).toBe(wanted.runner);
        },
      ),
      { numRuns: 200 },
    );
  });
});
