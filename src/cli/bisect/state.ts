import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { z } from "zod";
import { UsageError } from "../exit-codes.js";

/**
 * What a bisection has learnt, written after every run so `kto bisect --resume` continues an
 * interrupted one without repeating a finished run. It lives in the repository's git
 * directory, as git's own BISECT_* files do, so the developer's `git status` never shows it.
 */

const runSchema = z.object({
  verdict: z.enum(["pass", "fail", "broken", "unjudged"]),
  reason: z.string(),
  seconds: z.number().min(0),
});

const stepSchema = z.object({ commit: z.string().regex(/^[0-9a-f]{40,64}$/), runs: z.array(runSchema) });

/** The arguments that decide what a bisection answers: a resumed one must have the same. */
const argsSchema = z.object({
  good: z.string(),
  bad: z.string(),
  config: z.string(),
  suites: z.array(z.string()),
  test: z.string().nullable(),
  runs: z.number().int().min(1),
});

const stateSchema = z.object({ version: z.literal(1), args: argsSchema, steps: z.array(stepSchema) });

export type BisectArgs = z.infer<typeof argsSchema>;
export type BisectState = z.infer<typeof stateSchema>;
export type StepRecord = z.infer<typeof stepSchema>;
export type RunRecord = z.infer<typeof runSchema>;

export async function writeState(file: string, state: BisectState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  // A rename replaces the file whole: an interrupt mid-write leaves the last state, never half of one.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
  await rename(temporary, file);
}

export async function removeState(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** The state an interrupted bisection left, refused when it was for other arguments: its verdicts would answer another question. */
export async function readState(file: string, args: BisectArgs): Promise<BisectState> {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new UsageError("--resume: no interrupted bisection to resume in this repository");
    throw error;
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`--resume: ${file} is not JSON; start again without --resume`);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`--resume: ${file}: ${issue.path.join(".") || "the document"}: ${issue.message}; start again without --resume`);
  }
  const differing = (Object.keys(args) as (keyof BisectArgs)[]).filter((key) => JSON.stringify(args[key]) !== JSON.stringify(parsed.data.args[key]));
  if (differing.length > 0)
    throw new UsageError(
      `--resume: the interrupted bisection had other arguments (${differing.map((key) => `${key}: ${JSON.stringify(parsed.data.args[key])}`).join(", ")}); give the same ones, or start again without --resume`,
    );
  return parsed.data;
}
