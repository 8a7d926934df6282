// The orchestrator as a crash test runs it: a real SQLite store, a dispatcher that talks
// HTTP to the test's virtual runner fleet, and nothing in memory that must survive.
// The test SIGKILLs this process at random points and starts it again.
import { systemClock } from "../../lib/src/orchestrator/clock.js";
import { OrchestratorService } from "../../lib/src/orchestrator/service.js";
import { openStore } from "../../lib/src/orchestrator/store/open-store.js";
import { isTerminal } from "../../lib/src/orchestrator/job-state.js";

const fleet = process.env.KTO_CRASH_FLEET;
const jobCount = Number(process.env.KTO_CRASH_JOBS ?? 200);
const store = await openStore({ dataDir: process.env.KTO_CRASH_DATA });

// Up to 8 jobs leased in one pass go out as one dispatch, as the App's runs do.
const dispatcher = {
  batching: { maxJobs: 8, maxChars: Infinity, entryChars: () => 1, groupOf: () => "fleet" },
  async dispatch({ key, entries }) {
    const jobs = entries.map(({ job }) => ({ jobId: job.id, attempt: job.attempt }));
    const response = await fetch(`${fleet}/dispatch`, { method: "POST", body: JSON.stringify({ key, jobs }) });
    if (!response.ok) throw new Error(`fleet answered ${response.status}`);
    return response.json();
  },
  async cancel({ key, jobId, attempt }) {
    await fetch(`${fleet}/cancel`, { method: "POST", body: JSON.stringify({ key, jobId, attempt }) });
  },
};
// The test's jobs come from no repository: the fleet takes any.
const scope = { kind: "unrestricted" };
const pool = {
  name: "fleet",
  async list() {
    return [
      { id: "fleet-a", pool: "fleet", labels: ["x86_64"], capacity: 8, state: "online", lastSeen: Date.now(), scope },
      { id: "fleet-b", pool: "fleet", labels: ["x86_64", "kvm"], capacity: 4, state: "online", lastSeen: Date.now(), scope },
    ];
  },
};
const service = new OrchestratorService({
  store,
  dispatcher,
  pools: [pool],
  clock: systemClock,
  options: {
    owner: `crash-${process.pid}`,
    pollMs: 20,
    outboxPollMs: 20,
    lockTtlMs: 300,
    lifecycle: { leaseMs: 60_000, deadlineGraceMs: 60_000, retryBackoffMs: 10, maxBackoffMs: 50 },
  },
});

if ((await store.plans.planIds()).length === 0) {
  const jobs = Array.from({ length: jobCount }, (_, i) => {
    const labels = i % 3 === 0 ? ["x86_64", "kvm"] : ["x86_64"];
    const id = `job-${String(i).padStart(3, "0")}`;
    return {
      id,
      name: id,
      labels,
      priority: 1 + (i % 4),
      maxAttempts: 3,
      retries: 0,
      spec: {
        id,
        slug: id,
        suite: "crash",
        matrix: {},
        runner: "docker",
        env: {},
        results: "auto",
        labels,
        timeoutMs: 600_000,
        retries: 0,
        priority: 1 + (i % 4),
        artifacts: [],
        network: false,
        arch: "x86_64",
        idleTimeoutMs: 60_000,
      },
    };
  });
  await service.submit({ id: "crash-plan", source: "crash", workspace: "/", approved: true, now: Date.now(), jobs });
}
await service.start();

// Reports come back by polling the fleet, as the App reconciles with GitHub after a restart;
// applying one twice changes nothing.
for (;;) {
  const events = await (await fetch(`${fleet}/events`)).json();
  for (const event of events) {
    await service.recordRunEvent(event.jobId, event.attempt, { kind: "started", runId: event.key });
    await service.recordRunEvent(event.jobId, event.attempt, {
      kind: "finished",
      status: event.status,
      infrastructure: event.infrastructure,
      reason: event.reason,
    });
  }
  const jobs = await store.jobs.list();
  if (jobs.every((job) => isTerminal(job.state))) break;
  await new Promise((resolve) => setTimeout(resolve, 25));
}
await service.stop();
await store.close();
process.exit(0);
