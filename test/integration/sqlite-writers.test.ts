import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "@jest/globals";
import { openStore } from "../../src/orchestrator/store/open-store.js";

/**
 * Two processes on one SQLite store (an App and `kto` reading its queue, or an App that
 * restarts while the old one drains): each transaction reads, then writes. One begun
 * deferred would fail at its first write with "database is locked" whenever the other had
 * committed since its read, without waiting; each must instead wait its turn.
 */

const lib = (path: string) => pathToFileURL(resolve("lib/src", path)).href;

/** A process that submits `plans` plans into one group, each cancelling the group's older one's jobs. */
function writer(dataDir: string, name: string, plans: number): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { openStore } = await import(${JSON.stringify(lib("orchestrator/store/open-store.js"))});
    const { planEffects } = await import(${JSON.stringify(lib("orchestrator/job-lifecycle.js"))});
    const store = await openStore({ dataDir: ${JSON.stringify(dataDir)}, databaseUrl: "" });
    const spec = (id) => ({ id, slug: id, suite: id, matrix: {}, env: {}, results: "auto", labels: [], timeoutMs: 60000, retries: 0,
      priority: 2, artifacts: [], network: false, arch: "x86_64", idleTimeoutMs: 60000, runner: "docker", image: "i", command: "true" });
    for (let i = 0; i < ${plans}; i++) {
      const id = ${JSON.stringify(name)} + "-" + i;
      await store.plans.submitPlan({ id, source: ".github/kto.yml", workspace: "", groupKey: "pr:o/r#1", now: Date.now(), approved: true,
        jobs: [{ id: id + "/j", name: "j", spec: spec("j"), labels: [], priority: 2, maxAttempts: 1, retries: 0 }] }, planEffects(false));
    }
    await store.close();
  `;
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (code) => done({ code, stderr }));
  });
}

describe("two processes writing one SQLite store", () => {
  it("serves both, each transaction waiting for the other's instead of failing", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "kto-writers-"));
    try {
      // Created and migrated first: two processes migrating an empty file at once is another question.
      await (await openStore({ dataDir, databaseUrl: "" })).close();
      const results = await Promise.all([writer(dataDir, "a", 300), writer(dataDir, "b", 300)]);
      expect(results.map((r) => ({ code: r.code, stderr: r.stderr.split("\n").slice(0, 5).join("\n") }))).toEqual([
        { code: 0, stderr: "" },
        { code: 0, stderr: "" },
      ]);
      const store = await openStore({ dataDir, databaseUrl: "" });
      try {
        const plans = await store.db
          .selectFrom("plans")
          .select(({ fn }) => fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow();
        expect(Number(plans.n)).toBe(600);
        // Each plan but the group's newest had its job cancelled by the next: exactly one is still queued.
        const queued = await store.db
          .selectFrom("jobs")
          .where("state", "=", "queued")
          .select(({ fn }) => fn.countAll<number>().as("n"))
          .executeTakeFirstOrThrow();
        expect(Number(queued.n)).toBe(1);
      } finally {
        await store.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
