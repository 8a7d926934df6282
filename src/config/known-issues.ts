import { z } from "zod";
import { ConfigError } from "./errors.js";
import { parseYaml, readYamlText } from "./load-config.js";
import { compileTestGlob, testGlobPrefix } from "./test-glob.js";

/** Where the base branch keeps its known issues; a pull request's own copy is never read. */
export const KNOWN_ISSUES_PATH = ".github/kto-known.yml";
/** More entries than any tree needs, and few enough to match each test against all of them. */
export const MAX_KNOWN_ISSUES = 2_000;

const glob = z
  .string()
  .min(1, "expected a glob of test names")
  .max(1024)
  .superRefine((pattern, ctx) => {
    try {
      compileTestGlob(pattern);
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid glob: ${(error as Error).message}` });
    }
  });

const entrySchema = z
  .object({
    /** Globs over the test's path below its job, `suite › case` as `kto compare` prints it (see test-glob.ts). */
    tests: z.union([glob.transform((g) => [g]), z.array(glob).min(1).max(100)]),
    suite: z.string().optional(),
    arch: z.string().optional(),
    /** The job asks for all of these runner labels. */
    labels: z.array(z.string()).optional(),
    link: z
      .string()
      .url("expected a link to the report (a URL)")
      .max(2048)
      .refine(
        (link) => ![...link].some((c) => c.trim() === "" || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
        "expected a link without spaces or control characters",
      )
      .optional(),
    /** `fail`: a failure is known, not a regression; `skip`: the test is expected to be skipped where it once passed. */
    expect: z.enum(["fail", "skip"]).default("fail"),
    /** It fails only sometimes: a pass is not a reason to drop the entry (others are pointed out once their test passes). */
    intermittent: z.boolean().default(false),
  })
  .strict();

export const knownIssuesSchema = z
  .object({
    version: z.literal(1),
    known: z.array(entrySchema).max(MAX_KNOWN_ISSUES, `at most ${MAX_KNOWN_ISSUES} known issues`).default([]),
  })
  .strict();

export type KnownIssue = z.output<typeof entrySchema> & { index: number };

/** What a known issue is matched against: the job a test ran in, and the test's path below it. */
export interface KnownScope {
  suite: string;
  arch: string;
  labels: readonly string[];
}

/** One of an entry's globs, with the literal start of every name it matches. */
export interface CompiledTestGlob {
  prefix: string;
  matches: (path: string) => boolean;
}

export class KnownIssues {
  /** Each entry's globs, by entry. */
  readonly globs: readonly (readonly CompiledTestGlob[])[];

  constructor(
    readonly file: string,
    readonly entries: readonly KnownIssue[],
  ) {
    this.globs = entries.map((entry) => entry.tests.map((pattern) => ({ prefix: testGlobPrefix(pattern), matches: compileTestGlob(pattern) })));
  }

  static none(): KnownIssues {
    return new KnownIssues(KNOWN_ISSUES_PATH, []);
  }

  /** Whether the entry applies to tests of a job of this scope at all. */
  inScope(entry: KnownIssue, scope: KnownScope): boolean {
    if (entry.suite !== undefined && entry.suite !== scope.suite) return false;
    if (entry.arch !== undefined && entry.arch !== scope.arch) return false;
    // As GitHub matches runner labels: without regard to case.
    return !entry.labels || entry.labels.every((label) => scope.labels.some((has) => has.toLowerCase() === label.toLowerCase()));
  }

  /** The first entry that covers this test in this job, or null. */
  match(scope: KnownScope, path: string): KnownIssue | null {
    for (const [i, entry] of this.entries.entries()) if (this.inScope(entry, scope) && this.globs[i]!.some((glob) => glob.matches(path))) return entry;
    return null;
  }
}

export function parseKnownIssues(text: string, file: string = KNOWN_ISSUES_PATH): KnownIssues {
  const { data } = parseYaml(knownIssuesSchema, text, file);
  return new KnownIssues(
    file,
    data.known.map((entry, index) => ({ ...entry, index })),
  );
}

/** The known issues in `file`; none when there is no such file. */
export async function loadKnownIssues(file: string, required: boolean): Promise<KnownIssues> {
  const text = await readYamlText(file);
  if (text === null) {
    if (required) throw new ConfigError([{ file, line: 1, column: 1, path: "", message: "file not found" }]);
    return new KnownIssues(file, []);
  }
  return parseKnownIssues(text, file);
}
