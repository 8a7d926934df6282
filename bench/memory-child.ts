import { planEffects } from "../src/orchestrator/job-lifecycle.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../src/orchestrator/clock.js";
import { OrchestratorService } from "../src/orchestrator/service.js";
import { openStore } from "../src/orchestrator/store/open-store.js";
import { syntheticRunners, syntheticJobs } from "./orchestrator-bench.js";

// Prints the peak RSS in bytes of holding 10,000 queued jobs one way or the other.
const mode = process.argv[2];
const jobs = syntheticJobs(10_000);
if (mode === "kto") {
  const dir = await mkdtemp(join(tmpdir(), "kto-bench-mem-"));
  const store = await openStore({ dataDir: dir, databaseUrl: "" });
  const runners = syntheticRunners(500).map((e) => ({ ...e, capacity: 0 }));
  const service = new OrchestratorService({
    store,
    dispatcher: { dispatch: async () => ({ runId: "r" }), cancel: async () => undefined },
    pools: [{ name: "bench", list: async () => runners }],
    clock: new ManualClock(0),
    options: { owner: "mem" },
  });
  await service.syncRunners();
  await store.plans.submitPlan({ id: "mem", source: "bench", workspace: "/", approved: true, now: 0, jobs }, planEffects(false));
  await service.tick();
  await service.status.snapshot();
  await store.close();
  await rm(dir, { recursive: true, force: true });
} else {
  const queue = jobs.map((job, seq) => ({ ...job, seq }));
  queue.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
  if (queue.length !== 10_000) throw new Error("lost jobs");
}
process.stdout.write(`${process.resourceUsage().maxRSS * 1024}\n`);
