import { openStore } from "../../orchestrator/store/open-store.js";
import { StatusTracker } from "../../orchestrator/status-tracker.js";
import { EXIT } from "../exit-codes.js";
import { dataDir } from "./run.js";
import { printOut } from "../terminal.js";

export async function statusCommand(options: { json?: boolean }): Promise<number> {
  const store = await openStore({ dataDir: dataDir() });
  try {
    const tracker = new StatusTracker(store);
    const snapshot = await tracker.snapshot();
    if (options.json) {
      printOut(`${JSON.stringify({ ...snapshot, histograms: await tracker.histograms() }, null, 2)}\n`);
      return EXIT.ok;
    }
    const c = snapshot.counts;
    printOut(
      `jobs: ${snapshot.submitted} submitted, ${snapshot.waiting} waiting, ${snapshot.active} active, ${snapshot.finished} finished ` +
        `(${c.succeeded} succeeded, ${c.failed} failed, ${c.timed_out} timed out, ${c.cancelled} cancelled, ${c.errored} errored, ${c.skipped} skipped); ` +
        `${c.waiting} waiting for a build\n`,
    );
    for (const env of snapshot.runners) printOut(`runner ${env.id}: ${env.state}, ${env.busy}/${env.capacity} busy, labels ${env.labels.join(",")}\n`);
    for (const label of snapshot.labels)
      printOut(`labels [${label.labels || "-"}]: ${label.queued} queued, ${label.running} running, capacity ${label.capacity}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
