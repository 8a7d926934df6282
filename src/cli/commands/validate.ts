import { buildPlan } from "../../config/build-plan.js";
import { loadConfigFile } from "../../config/load-config.js";
import { EXIT } from "../exit-codes.js";
import { printOut } from "../terminal.js";

export async function validateCommand(file: string): Promise<number> {
  const loaded = await loadConfigFile(file);
  const plan = buildPlan(loaded);
  const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const { suites, builds } = loaded.config;
  const parts = [counted(suites.length, "suite"), ...(builds.length ? [counted(builds.length, "build")] : []), counted(plan.jobs.length, "job")];
  printOut(`${file}: valid: ${parts.join(", ")}\n`);
  return EXIT.ok;
}
