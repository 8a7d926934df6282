import { buildPlan } from "../../config/build-plan.js";
import { loadConfigFile } from "../../config/load-config.js";
import { EXIT } from "../exit-codes.js";
import { printOut } from "../terminal.js";

export async function validateCommand(file: string): Promise<number> {
  const loaded = await loadConfigFile(file);
  const plan = buildPlan(loaded);
  const suites = loaded.config.suites.length;
  printOut(`${file}: valid: ${suites} suite${suites === 1 ? "" : "s"}, ${plan.jobs.length} job${plan.jobs.length === 1 ? "" : "s"}\n`);
  return EXIT.ok;
}
