import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "@jest/globals";
import { DEFAULT_BODY_LIMITS } from "../../../src/app/http/body-budget.js";
import { BodyIntake } from "../../../src/app/http/request-body.js";
import { ktoRoutes } from "../../../src/app/http/routes.js";
import { ManualClock } from "../../../src/orchestrator/clock.js";
import { OrchestratorService } from "../../../src/orchestrator/service.js";
import { RecordingDispatcher } from "../../helpers/orchestrator.js";
import { RecordingLogger } from "../../helpers/recording-logger.js";
import { freshStore } from "../../helpers/stores.js";

describe("/kto/health", () => {
  let server: Server | null = null;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = null;
  });

  it("answers 503 naming no error when the store fails, and logs the cause", async () => {
    const { store, dispose } = await freshStore("sqlite");
    const service = new OrchestratorService({ store, dispatcher: new RecordingDispatcher(), pools: [], clock: new ManualClock(0), options: { owner: "t" } });
    const log = new RecordingLogger();
    const clock = new ManualClock(0);
    const routes = ktoRoutes({
      service,
      history: store.history,
      bisections: store.bisections,
      intake: new BodyIntake(DEFAULT_BODY_LIMITS, clock),
      verify: () => Promise.reject(new Error("no run reports here")),
      runnerWorkflow: "kto-runner.yml",
      findRun: async () => null,
      readAccess: { kind: "public" },
      pollMs: 100,
      log,
    });
    server = createServer((request, response) => void routes(request, response));
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    // The store stops answering (its database is gone).
    await dispose();
    const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/kto/health`);
    expect(answer.status).toBe(503);
    expect(await answer.json()).toEqual({ store: "failing", ready: false });
    expect(log.lines).toEqual([{ level: "error", message: "reading the orchestrator's health failed; /kto/health answers 503", err: expect.any(Error) }]);
    expect((log.lines[0]!.err as Error).message).toBe("driver has already been destroyed");
  });
});
