import { parseDuration } from "../../config/duration.js";
import { openStore } from "../../orchestrator/store/open-store.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { collectGarbage, retentionMs } from "../local-run.js";
import { dataDir } from "./run.js";
import { printOut } from "../terminal.js";

export async function gcCommand(options: { olderThan?: string }): Promise<number> {
  const maxAge = options.olderThan === undefined ? retentionMs() : parseDuration(options.olderThan);
  if (maxAge === null) throw new UsageError(`--older-than: expected a duration like 72h, got "${options.olderThan}"`);
  const store = await openStore({ dataDir: dataDir() });
  try {
    const { plans, folders } = await collectGarbage(store, maxAge);
    printOut(
      `kto: pruned ${plans.length} finished run${plans.length === 1 ? "" : "s"} and ${folders.length} results folder${folders.length === 1 ? "" : "s"}\n`,
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
