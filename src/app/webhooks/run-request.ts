import { z } from "zod";
import { PRIORITIES } from "../../config/schema.js";

/**
 * The manual "Run kto" workflow: a `workflow_dispatch` of this file asks the App for a plan
 * at the dispatched ref (the Actions tab's "Run workflow" button, or `gh workflow run`).
 * Any other dispatched workflow, kto's own runner workflow included, is not a request.
 */
export const RUN_REQUEST_WORKFLOW_PATH = ".github/workflows/kto-run.yml";

/** What a person or a script asks for: which commit, which suites, how urgent. */
export interface RunRequest {
  ref?: string;
  suites?: string[];
  priority?: number;
}

const priority = z.union([
  z.number().int().min(0).max(100),
  z.enum(["low", "normal", "high", "urgent"]).transform((name) => PRIORITIES[name]),
  // workflow_dispatch inputs are always strings
  z.string().regex(/^\d+$/, "expected low, normal, high, urgent or a number 0-100").transform(Number).pipe(z.number().int().max(100)),
]);

/** Suites as a list, or as the comma/space separated text a workflow input holds; empty means all. */
const suites = z
  .union([z.array(z.string().min(1)), z.string()])
  .transform((value) => (Array.isArray(value) ? value : value.split(/[\s,]+/).filter(Boolean)))
  .transform((list) => (list.length === 0 ? undefined : list));

const runRequestSchema = z
  .object({
    ref: z.string().min(1).optional(),
    suites: suites.optional(),
    priority: z.union([priority, z.literal("").transform(() => undefined)]).optional(),
  })
  .passthrough();

export class RunRequestError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`${source}: ${issues.join("; ")}`);
    this.name = "RunRequestError";
  }
}

/** Parses `client_payload` of a `kto-run` repository_dispatch or the inputs of a kto-run.yml workflow_dispatch. */
export function parseRunRequest(source: string, value: unknown): RunRequest {
  const parsed = runRequestSchema.safeParse(value ?? {});
  if (!parsed.success)
    throw new RunRequestError(
      source,
      parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`),
    );
  const { ref, suites: chosen, priority: level } = parsed.data;
  return { ...(ref ? { ref } : {}), ...(chosen ? { suites: chosen } : {}), ...(level === undefined ? {} : { priority: level }) };
}

/** `refs/heads/main` → `main`, so a dispatched ref and a typed branch name group together. */
export function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, "");
}
