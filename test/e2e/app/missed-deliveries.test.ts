import { afterEach, describe, expect, it } from "@jest/globals";
import { randomUUID } from "node:crypto";
import type { Store } from "../../../src/orchestrator/store/store.js";
import { selfHostedRunner, startGitHubApiDouble, type GitHubApiDouble } from "../../helpers/github-api-double.js";
import { deliverWebhook } from "../../helpers/github-double/hook-deliveries.js";
import { freshStore } from "../../helpers/stores.js";
import { startTestApp, WEBHOOK_SECRET, type TestApp } from "../../helpers/test-app.js";
import { until } from "../../helpers/until.js";
import { CONFIG, example, REPO, SHA } from "./app-under-test.js";

/**
 * Webhooks GitHub could not deliver: GitHub logs each attempt and redelivers only when
 * asked. kto looks through the App's delivery log at start and every so often, and asks for
 * each event it has no record of handling, a few times at most.
 */

/** Nothing listens here: GitHub's attempt fails to connect, as when kto is down. */
const NOWHERE = { url: "http://127.0.0.1:9/api/github/webhooks", secret: WEBHOOK_SECRET };

describe("webhooks GitHub could not deliver", () => {
  let github: GitHubApiDouble;
  let running: TestApp | undefined;
  let dispose: (() => Promise<void>) | undefined;

  afterEach(async () => {
    await running?.close();
    await dispose?.();
    await github.close();
    running = undefined;
    dispose = undefined;
  });

  async function world(): Promise<Store> {
    github = await startGitHubApiDouble();
    github.state.files.set(`${REPO}@${SHA}:.github/kto.yml`, CONFIG);
    github.state.runners.set(REPO, [selfHostedRunner(7, "rack-1", ["x86_64"])]);
    const fresh = await freshStore("sqlite");
    dispose = fresh.dispose;
    return fresh.store;
  }

  it("asks again, once kto is up, for a pull request pushed while it was down, and not for a delivery it handled after GitHub gave up", async () => {
    const store = await world();
    const missed = randomUUID();
    const handledLate = randomUUID();
    expect(await deliverWebhook(github.state, NOWHERE, { event: "pull_request", body: JSON.stringify(example("pull_request", "opened")), guid: missed })).toBe(
      0,
    );
    // GitHub stopped waiting after 10 s, but kto finished handling it and recorded it.
    await deliverWebhook(github.state, NOWHERE, { event: "pull_request", body: JSON.stringify(example("pull_request", "synchronize")), guid: handledLate });
    await store.coordination.recordDelivery(handledLate, Date.now());

    running = await startTestApp({ github, start: { store, missedDeliveries: { minAgeMs: 0 } } });
    await until(async () => github.state.dispatches.length === 1, "the pull request's job dispatched");
    const redelivered = github.state.hookDeliveries.filter((d) => d.redelivery);
    expect(redelivered.map((d) => [d.guid, d.status_code])).toEqual([[missed, 200]]);
    expect(github.requests.filter((r) => r.operationId === "apps/redeliver-webhook-delivery")).toHaveLength(1);
    expect(github.rejected).toEqual([]);
  });

  it("stops asking for an event kto's handler fails every time, after three attempts in all, and says so", async () => {
    const store = await world();
    running = await startTestApp({ github, start: { store, missedDeliveries: { minAgeMs: 0, intervalMs: 200 } } });
    const installed = example("installation", "created", 1) as { repositories: { full_name: string }[] };
    // A repository kto cannot read: setting it up fails, and so does the delivery.
    installed.repositories = [{ ...installed.repositories[0]!, full_name: "Codertocat/unreadable" }];
    const guid = randomUUID();
    expect(await running.deliver("installation", installed, guid)).toBe(500);
    await until(async () => github.state.hookDeliveries.filter((d) => d.guid === guid).length === 3, "two redeliveries");
    // Several more sweeps: no fourth attempt.
    const sweeps = () => github.requests.filter((r) => r.operationId === "apps/list-webhook-deliveries").length;
    const seen = sweeps();
    await until(async () => sweeps() >= seen + 3, "three more sweeps");
    expect(github.state.hookDeliveries.filter((d) => d.guid === guid).map((d) => [d.redelivery, d.status_code])).toEqual([
      [false, 500],
      [true, 500],
      [true, 500],
    ]);
    expect(github.rejected).toEqual([]);
  });
});
