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
/** GitHub's limit on the jobs a matrix makes. */
const MATRIX_JOBS = 256;

/** One job of a dispatched run as its runner sees it: the inputs the action is given, and its timeout. */
export interface RunJob {
  /** The job's name in the run (`name:`, evaluated), as workflow_job events and the Actions UI show it. */
  name: string;
  /** What the job's steps read: `job` as the action's `job` input receives it, `runs_on` as JSON, `sha`, `app_url`. */
  inputs: Record<string, string>;
  runsOn: string[];
  timeoutMinutes: number;
}

interface WorkflowJob {
  name?: unknown;
  strategy?: { matrix?: { include?: unknown } };
  "runs-on"?: unknown;
  "timeout-minutes"?: unknown;
  steps?: { uses?: string; with?: Record<string, unknown> }[];
}

const EXPRESSION = /^\$\{\{\s*(.*?)\s*\}\}$/s;

/**
 * A value of kto's workflow as GitHub evaluates it: a literal, or one of the few expressions
 * the workflow uses (`inputs.x`, `fromJSON(inputs.x)`, `fromJSON(inputs.x).f`, `matrix.a.b`,
 * `toJSON(matrix.a)`, `github.token`). Anything else throws, so that a new one is taught here first.
 */
function evaluate(value: unknown, context: { inputs: Record<string, unknown>; matrix: Record<string, unknown> }): unknown {
  if (typeof value !== "string") return value;
  const match = EXPRESSION.exec(value.trim());
  if (!match) return value;
  const text = match[1]!;
  const path = (root: unknown, fields: string) =>
    fields
      .split(".")
      .filter(Boolean)
      .reduce<unknown>((at, field) => (at !== null && typeof at === "object" ? (at as Record<string, unknown>)[field] : undefined), root);
  let m: RegExpExecArray | null;
  if ((m = /^inputs\.(\w+)$/.exec(text))) return context.inputs[m[1]!];
  if ((m = /^fromJSON\(inputs\.(\w+)\)((?:\.\w+)*)$/.exec(text))) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(String(context.inputs[m[1]!]));
    } catch {
      throw new Error(`The template is not valid: fromJSON(inputs.${m[1]}) is not JSON`);
    }
    return path(parsed, m[2]!);
  }
  if ((m = /^matrix((?:\.\w+)+)$/.exec(text))) return path(context.matrix, m[1]!);
  // GitHub's toJSON indents: the action must take it as JSON, not as one line.
  if ((m = /^toJSON\(matrix((?:\.\w+)+)\)$/.exec(text))) return JSON.stringify(path(context.matrix, m[1]!), null, 2);
  if (text === "github.token") return "ghs_double";
  throw new Error(`the double cannot evaluate \${{ ${text} }}`);
}

/**
 * The jobs a dispatch of `workflow` with `inputs` starts, as GitHub would make them: the
 * workflow's one job, once, or once per entry of its `strategy.matrix.include` (evaluated
 * from the inputs), each with its `runs-on` and `timeout-minutes` evaluated; or why GitHub
 * would fail the run at once ("The template is not valid"), which the double answers as a
 * refused dispatch so that the test sees it.
 */
export function expandDispatch(workflow: string, inputs: Record<string, unknown>): { runName: string; jobs: RunJob[] } | { refusal: string } {
  const parsed = parse(workflow) as { "run-name"?: unknown; jobs?: Record<string, WorkflowJob> };
  const [id, declared] = Object.entries(parsed.jobs ?? {})[0] ?? [];
  if (!id || !declared) return { refusal: "the workflow has no job" };
  try {
    const runName = String(evaluate(parsed["run-name"] ?? "kto runner", { inputs, matrix: {} }));
    const include = declared.strategy?.matrix ? evaluate(declared.strategy.matrix.include, { inputs, matrix: {} }) : [{}];
    if (!Array.isArray(include) || include.some((entry) => entry === null || typeof entry !== "object" || Array.isArray(entry)))
      return { refusal: "The template is not valid: strategy.matrix.include must be a list of objects" };
    if (include.length === 0) return { refusal: "The template is not valid: Matrix vector 'include' does not contain any values" };
    if (include.length > MATRIX_JOBS) return { refusal: `The template is not valid: Strategy produced more than ${MATRIX_JOBS} jobs` };
    const jobs = (include as Record<string, unknown>[]).map((matrix): RunJob => {
      const context = { inputs, matrix };
      const minutes = evaluate(declared["timeout-minutes"] ?? 360, context);
      if (typeof minutes !== "number" || !Number.isInteger(minutes) || minutes <= 0)
        throw new Error(`The template is not valid: timeout-minutes evaluates to ${JSON.stringify(minutes)}`);
      const runsOn = evaluate(declared["runs-on"], context);
      const labels = typeof runsOn === "string" ? [runsOn] : runsOn;
      if (!Array.isArray(labels) || labels.some((l) => typeof l !== "string"))
        throw new Error(`The template is not valid: runs-on evaluates to ${JSON.stringify(runsOn)}`);
      // What the kto action's step is given, with the commit and the App's URL beside it.
      const step = declared.steps?.find((s) => s.uses?.startsWith("kto-ci/kto"))?.with ?? {};
      const checkout = declared.steps?.find((s) => s.uses?.startsWith("actions/checkout"))?.with ?? {};
      return {
        name: String(evaluate(declared.name ?? id, context)),
        inputs: {
          job: String(evaluate(step.job, context)),
          runs_on: JSON.stringify(labels),
          sha: String(evaluate(checkout.ref, context)),
          app_url: String(evaluate(step["app-url"], context)),
        },
        runsOn: labels as string[],
        timeoutMinutes: Math.min(minutes, GITHUB_JOB_MINUTES),
      };
    });
    return { runName, jobs };
  } catch (error) {
    return { refusal: (error as Error).message };
  }
}
