import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openStore } from "../../src/orchestrator/store/open-store.js";
import { planEffects } from "../../src/orchestrator/job-lifecycle.js";
import type { NewPlan, Store } from "../../src/orchestrator/store/store.js";

export type EngineName = "sqlite" | "postgres";
export const ENGINES: EngineName[] = ["sqlite", "postgres"];

function adminUrl(): string {
  const url = process.env.KTO_TEST_DATABASE_URL;
  if (!url) throw new Error("KTO_TEST_DATABASE_URL is not set: run scripts/test-postgres.sh (jest's global setup does)");
  return url;
}

/** A fresh, migrated store on the engine: a new SQLite file, or a new PostgreSQL database. */
export async function freshStore(
  engine: EngineName,
): Promise<{ store: Store; dispose: () => Promise<void>; location: { dataDir?: string; databaseUrl?: string } }> {
  if (engine === "sqlite") {
    const dataDir = await mkdtemp(join(tmpdir(), "kto-store-"));
    const store = await openStore({ dataDir, databaseUrl: "" });
    return {
      store,
      location: { dataDir },
      dispose: async () => {
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `kto_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const store = await openStore({ databaseUrl: url.toString() });
  return {
    store,
    location: { databaseUrl: url.toString() },
    dispose: async () => {
      await store.close();
      const again = new pg.Client({ connectionString: adminUrl() });
      await again.connect();
      // pg's pool ends its idle connections without waiting for them to close: dropping the
      // database at once would kill one still closing, and its pool has nobody to tell. Wait
      // (a while) for them to go; the drop then forces only what a test left open.
      for (let i = 0; i < 50; i++) {
        const { rows } = await again.query<{ n: string }>("select count(*) as n from pg_stat_activity where datname = $1", [name]);
        if (Number(rows[0]!.n) === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await again.query(`drop database if exists ${name} with (force)`);
      await again.end();
    },
  };
}

export async function withStore<T>(engine: EngineName, fn: (store: Store) => Promise<T>): Promise<T> {
  const { store, dispose } = await freshStore(engine);
  try {
    return await fn(store);
  } finally {
    await dispose();
  }
}

/** Submits a plan straight to the store, with the effects the job lifecycle gives a plan (check runs when `publish`). */
export function submitPlan(store: Store, plan: NewPlan): ReturnType<Store["plans"]["submitPlan"]> {
  return store.plans.submitPlan(plan, planEffects(plan.publish === true));
}

/** A published plan of pull request #1 of `repo` at `headSha` (installation 1, default branch master), approved unless `approved` says not. */
export function submitPullRequestPlan(
  store: Store,
  plan: Pick<NewPlan, "id" | "headSha" | "now" | "jobs"> & { repo: string } & Partial<Pick<NewPlan, "approved" | "approvalReason">>,
): ReturnType<Store["plans"]["submitPlan"]> {
  return submitPlan(store, {
    source: ".github/kto.yml",
    workspace: plan.repo,
    installationId: 1,
    defaultRef: "master",
    groupKey: `pr:${plan.repo}#1`,
    approved: true,
    publish: true,
    ...plan,
  });
}
