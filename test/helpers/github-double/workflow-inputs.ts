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
