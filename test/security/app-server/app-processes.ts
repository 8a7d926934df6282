import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "@jest/globals";
import { openStore } from "../../../src/orchestrator/store/open-store.js";
import type { Store } from "../../../src/orchestrator/store/store.js";
import type { AppProcess } from "../../helpers/app-process.js";
import { until } from "../../helpers/until.js";
import { example } from "../../helpers/webhook-examples.js";

/**
 * The world of the App server's security tests (test/security/app-server/): `kto app`
 * processes in a scratch directory of the calling file's, and work queued on them whose
 * state names a repository and a runner that must not leak.
 */

export const REPO = "Codertocat/Hello-World";
export const SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
export const RUNNER = "rack-b7-secret";

export let scratch: string;

/** A scratch directory for the calling file's App processes, made before its tests and removed after them. */
export function useScratch(): void {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "kto-security-"));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });
}

/** A pull request whose job waits for a label no runner has: the App lists the repository's runners, so its state names them. */
export async function queueWork(app: AppProcess): Promise<void> {
  app.github.state.files.set(
    `${REPO}@${SHA}:.github/kto.yml`,
    `version: 1\nsuites:\n  - { name: board, runner: docker, image: kto/busybox:1, command: "true", hardware: { labels: [arm64] } }\n`,
  );
  app.github.state.runners.set(REPO, [
    {
      id: 7,
      name: RUNNER,
      os: "linux",
      status: "online",
      busy: false,
      labels: ["self-hosted", "x86_64", `kto-runner-${RUNNER}`].map((name, i) => ({ id: i + 1, name, type: "custom" as const })),
    },
  ]);
  expect(await app.deliver("pull_request", example("pull_request", "opened"))).toBe(200);
}

/** The App's store, opened beside it (SQLite in WAL mode takes a second process). */
export async function storeOf(app: AppProcess): Promise<Store> {
  return openStore({ dataDir: app.dataDir, databaseUrl: "" });
}

export async function runnerListed(app: AppProcess): Promise<void> {
  const store = await storeOf(app);
  try {
    await until(
      async () => (await store.runners.list()).some((e) => e.labels.includes(`kto-runner-${RUNNER}`)),
      "the App to list the repository's runner",
      30_000,
    );
  } finally {
    await store.close();
  }
}
