import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { PROJECT_ROOT_URL } from "../project-root.js";

/** The workflow kto ships; a repository in the double's state without its own file has this one. */
export const SHIPPED_RUNNER_WORKFLOW = readFileSync(new URL("self-hosted/kto-runner.yml", PROJECT_ROOT_URL), "utf8");

interface DeclaredInput {
  required?: boolean;
  default?: unknown;
}

/**
 * Why GitHub would refuse to dispatch `workflow` (its YAML) with `inputs`, in its words,
 * or null: an input the workflow does not declare under on.workflow_dispatch.inputs, or a
 * required one without a default left out.
 */
export function inputsRefusal(workflow: string, inputs: Record<string, unknown>): string | null {
  // `on` is an event's name, a list of them, or a map of each to its settings.
  const on = (parse(workflow) as { on?: unknown }).on;
  const events =
    typeof on === "string"
      ? { [on]: null }
      : Array.isArray(on)
        ? Object.fromEntries(on.map((e) => [String(e), null]))
        : ((on ?? {}) as Record<string, unknown>);
  if (!("workflow_dispatch" in events)) return "Workflow does not have 'workflow_dispatch' trigger";
  const declared = (events.workflow_dispatch as { inputs?: Record<string, DeclaredInput | null> } | null)?.inputs ?? {};
  const unexpected = Object.keys(inputs).filter((name) => !(name in declared));
  if (unexpected.length > 0) return `Unexpected inputs provided: ${JSON.stringify(unexpected)}`;
  const missing = Object.entries(declared).find(([name, input]) => input?.required && input.default === undefined && inputs[name] === undefined);
  return missing ? `Required input '${missing[0]}' not provided` : null;
}

/** GitHub ends a self-hosted runner's job after 5 days, whatever timeout-minutes says. */
const GITHUB_JOB_MINUTES = 5 * 24 * 60;
const FROM_JSON_FIELD = /^\$\{\{\s*fromJSON\(inputs\.(\w+)\)\.(\w+)\s*\}\}$/;

/**
 * The `timeout-minutes` of the workflow's one job as GitHub would evaluate it for `inputs`:
 * a number, or `${{ fromJSON(inputs.X).field }}` (the only expression kto's workflow uses;
 * anything else is refused so that a new one is taught here first). A value that is not a
 * positive whole number is what GitHub fails the run for at once ("The template is not
 * valid"); the double refuses the dispatch for it, so the test sees it.
 */
export function runTimeoutMinutes(workflow: string, inputs: Record<string, unknown>): { minutes: number } | { refusal: string } {
  const jobs = (parse(workflow) as { jobs?: Record<string, { "timeout-minutes"?: unknown }> }).jobs ?? {};
  const declared = Object.values(jobs)[0]?.["timeout-minutes"];
  let value: unknown = declared ?? 360;
  if (typeof declared === "string") {
    const match = FROM_JSON_FIELD.exec(declared.trim());
    if (!match) return { refusal: `the double cannot evaluate timeout-minutes: ${declared}` };
    try {
      value = (JSON.parse(String(inputs[match[1]!])) as Record<string, unknown>)[match[2]!];
    } catch {
      return { refusal: `The template is not valid: timeout-minutes: fromJSON(inputs.${match[1]}) is not JSON` };
    }
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0)
    return { refusal: `The template is not valid: timeout-minutes evaluates to ${JSON.stringify(value)}` };
  return { minutes: Math.min(value, GITHUB_JOB_MINUTES) };
}
