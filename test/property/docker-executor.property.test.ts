import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import Docker from "dockerode";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { JOB_LABEL } from "../../src/runners/docker-options.js";
import { job, withTempDir } from "../helpers/job.js";

const runner = new DockerExecutor();
const docker = new Docker();

/** Deterministic pseudo-random bytes: sizes up to megabytes without storing them in the counterexample. */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const payload = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
  fc.tuple(fc.integer({ min: 50_000, max: 3_000_000 }), fc.integer()).map(([n, seed]) => bytes(n, seed)),
);

async function containersOf(jobId: string): Promise<number> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${JOB_LABEL}=${jobId}`] } });
  return list.length;
}

describe("DockerExecutor", () => {
  it("Property 6: complete result capture — stdout, stderr, exit code and times, whatever the bytes and size", async () => {
    await fc.assert(
      fc.asyncProperty(
        payload,
        payload,
        fc.integer({ min: 0, max: 255 }),
        fc.option(fc.integer({ min: 1, max: 200_000 }), { nil: undefined }),
        async (out, err, code, cap) =>
          withTempDir(async (dir) => {
            await chmod(dir, 0o755);
            await writeFile(join(dir, "out.bin"), out);
            await writeFile(join(dir, "err.bin"), err);
            await chmod(join(dir, "out.bin"), 0o644);
            await chmod(join(dir, "err.bin"), 0o644);
            const before = Date.now();
            const execution = await runner.execute(job({ id: "p6", command: `cat out.bin; cat err.bin >&2; exit ${code}` }), {
              workspace: dir,
              jobDir: join(dir, "job"),
              streamCapBytes: cap,
            });
            expect(execution.exitCode).toBe(code);
            for (const [captured, sent] of [
              [execution.stdout, out],
              [execution.stderr, err],
            ] as const) {
              const kept = cap === undefined ? sent : sent.subarray(0, cap);
              expect(captured.totalBytes).toBe(sent.length);
              expect(captured.truncated).toBe(kept.length < sent.length);
              expect(captured.data.equals(kept)).toBe(true);
            }
            expect(execution.startedAt.getTime()).toBeGreaterThanOrEqual(before);
            expect(execution.finishedAt.getTime()).toBeGreaterThanOrEqual(execution.startedAt.getTime());
            expect(execution.metrics.wallMs).toBe(execution.finishedAt.getTime() - execution.startedAt.getTime());
          }),
      ),
      { numRuns: 12 },
    );
  });

  it("Property 5: isolation — a job sees no file, process or network of another running beside it", async () => {
    await fc.assert(
      fc.asyncProperty(fc.stringMatching(/^[a-z0-9]{12}$/), async (nonce) =>
        withTempDir(async (dir) => {
          await chmod(dir, 0o755);
          const holder = runner.execute(
            job({
              id: `p5-holder-${nonce}`,
              command: `echo ${nonce} > /tmp/secret; echo ${nonce} > /results/secret; sh -c 'sleep 4' marker-${nonce} & sleep 3; cat /tmp/secret`,
            }),
            { workspace: dir, jobDir: join(dir, "a") },
          );
          await new Promise((resolve) => setTimeout(resolve, 1200));
          const probe = await runner.execute(
            job({
              id: "p5-probe",
              command:
                "ls -la /tmp /results; ps -ef 2>/dev/null || ps; cat /proc/net/dev; " +
                "cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -r . /tmp /results 2>/dev/null; " +
                "if wget -q -T 2 -O - http://127.0.0.1:5000/v2/ 2>/dev/null; then echo NETWORK-$((1 + 1))-REACHED; fi",
            }),
            { workspace: dir, jobDir: join(dir, "b") },
          );
          const seen = probe.stdout.data.toString() + probe.stderr.data.toString();
          const held = await holder;
          expect(held.stdout.data.toString()).toContain(nonce); // the holder did write its secret
          expect(seen).not.toContain(nonce);
          expect(seen).not.toContain("NETWORK-2-REACHED");
          const interfaces = seen
            .split("\n")
            .filter((l) => /^\s*\w+:\s+\d/.test(l))
            .map((l) => l.trim().split(":")[0]);
          expect(interfaces).toEqual(["lo"]);
        }),
      ),
      { numRuns: 3 },
    );
  });

  it("Property 7: timeout enforcement — a job over its limit is killed within limit + grace and leaves no container", async () => {
    const graceMs = 10_000;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 200, max: 2500 }), async (timeoutMs) =>
        withTempDir(async (dir) => {
          const id = `p7-${timeoutMs}`;
          const execution = await runner.execute(job({ id, command: "echo started; sleep 120", timeoutMs }), { workspace: dir, jobDir: join(dir, "j") });
          expect(execution.timedOut).toBe(true);
          expect(execution.exitCode).toBeNull();
          expect(execution.stdout.data.toString()).toBe("started\n");
          expect(execution.finishedAt.getTime() - execution.startedAt.getTime()).toBeLessThan(timeoutMs + graceMs);
          expect(await containersOf(id)).toBe(0);
        }),
      ),
      { numRuns: 4 },
    );
  });
});
