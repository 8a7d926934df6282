import { chmod, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { readSettings } from "../../../src/app/settings.js";
import { openStore } from "../../../src/orchestrator/store/open-store.js";
import { startAppProcess } from "../../helpers/app-process.js";
import { queueWork, REPO, scratch, SHA, storeOf, useScratch } from "./app-processes.js";
import { job } from "../../helpers/job.js";
import { submitPlan } from "../../helpers/stores.js";
import { until } from "../../helpers/until.js";

/** The App's store on disk: readable by its user only, and pruned of finished plans past KTO_RETENTION. */

useScratch();

describe("the App's SQLite store on disk", () => {
  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it("creates the database and its -wal and -shm files readable by the App's user only", async () => {
    const app = await startAppProcess(join(scratch, "fresh-store"));
    try {
      await queueWork(app);
      const db = join(app.dataDir, "kto.db");
      for (const path of [db, `${db}-wal`, `${db}-shm`]) expect({ path, mode: (await mode(path)).toString(8) }).toEqual({ path, mode: "600" });
    } finally {
      await app.stop();
    }
  });

  it("makes an older store's 0644 files 0600 when it opens them", async () => {
    const dir = join(scratch, "older-store");
    const dataDir = join(dir, "app-data");
    const older = await openStore({ dataDir, databaseUrl: "" });
    await older.close();
    const db = join(dataDir, "kto.db");
    await chmod(db, 0o644);
    const app = await startAppProcess(dir);
    try {
      await queueWork(app);
      for (const path of [db, `${db}-wal`, `${db}-shm`]) expect({ path, mode: (await mode(path)).toString(8) }).toEqual({ path, mode: "600" });
    } finally {
      await app.stop();
    }
  });
});

describe("retention in App mode", () => {
  it("prunes finished plans older than KTO_RETENTION and keeps newer ones", async () => {
    const app = await startAppProcess(join(scratch, "retention"), { KTO_RETENTION: "10s" });
    const store = await storeOf(app);
    try {
      const seed = async (id: string, at: number) => {
        await submitPlan(store, {
          id,
          source: ".github/kto.yml",
          workspace: "",
          repo: REPO,
          installationId: 7,
          headSha: SHA,
          defaultRef: "master",
          approved: true,
          now: at,
          jobs: [{ id: `${id}/unit`, name: "unit", spec: job({ id: "unit" }), labels: [], priority: 2, maxAttempts: 1, retries: 0 }],
        });
        await store.transition({ jobId: `${id}/unit`, to: "cancelled", reason: "seeded", now: at });
      };
      await seed("old-plan", Date.now() - 3_600_000);
      await seed("new-plan", Date.now());
      await until(async () => (await store.plans.plan("old-plan")) === null, "the App to prune the plan that finished an hour ago", 30_000);
      expect(await store.plans.plan("new-plan")).not.toBeNull();
    } finally {
      await store.close();
      await app.stop();
    }
  });

  it("keeps 30 days by default, and a malformed KTO_RETENTION stops the App at start naming it", () => {
    const base = {
      APP_ID: "1",
      PRIVATE_KEY: "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----\n",
      WEBHOOK_SECRET: "s",
      KTO_PUBLIC_URL: "https://kto.example.com",
    };
    expect(readSettings(base, () => "").KTO_RETENTION).toBe(30 * 86_400_000);
    expect(readSettings({ ...base, KTO_RETENTION: "12h" }, () => "").KTO_RETENTION).toBe(12 * 3_600_000);
    expect(() => readSettings({ ...base, KTO_RETENTION: "soon" }, () => "")).toThrow(/KTO_RETENTION: a duration like 30d or 12h/);
  });
});
