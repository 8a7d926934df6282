import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { QemuExecutor } from "../../src/runners/qemu-executor.js";
import { qemuJob, withTempDir } from "../helpers/job.js";
import { runningQemus } from "../helpers/processes.js";

const runner = new QemuExecutor();

describe("QemuExecutor (each run boots a VM)", () => {
  it("Property 6: complete result capture — the guest's output and exit status reach the host whole", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.stringMatching(/^[A-Za-z0-9 ,.:_-]{1,70}$/), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 255 }),
        async (lines, code) =>
          withTempDir(async (dir) => {
            await chmod(dir, 0o755);
            await writeFile(join(dir, "payload.txt"), `${lines.join("\n")}\n`);
            const execution = await runner.execute(qemuJob({ id: "p6-vm", command: `cat payload.txt; exit ${code}` }), {
              workspace: dir,
              jobDir: join(dir, "job"),
            });
            expect(execution.exitCode).toBe(code);
            expect(execution.console?.data.toString()).toContain(`${lines.join("\n")}\n`);
            expect(execution.metrics.bootMs).toBeGreaterThan(0);
            expect(execution.finishedAt.getTime()).toBeGreaterThanOrEqual(execution.startedAt.getTime());
          }),
      ),
      { numRuns: 2 },
    );
  });

  it("Property 7: timeout enforcement — a VM over its limit is killed within limit + grace", async () => {
    const graceMs = 10_000;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1000, max: 6000 }), async (timeoutMs) =>
        withTempDir(async (dir) => {
          const execution = await runner.execute(qemuJob({ id: "p7-vm", command: "sleep 600", timeoutMs, idleTimeoutMs: 600_000 }), {
            workspace: dir,
            jobDir: join(dir, "job"),
          });
          expect(execution.timedOut).toBe(true);
          expect(execution.outcome).toBe("timed_out");
          expect(execution.finishedAt.getTime() - execution.startedAt.getTime()).toBeLessThan(timeoutMs + graceMs);
          expect(await runningQemus(dir)).toEqual([]);
        }),
      ),
      { numRuns: 2 },
    );
  });
});
