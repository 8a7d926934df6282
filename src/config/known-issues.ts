import picomatch from "picomatch";
import { z } from "zod";
import { ConfigError } from "./errors.js";
import { parseYaml, readYamlText } from "./load-config.js";

/** Where the base branch keeps its known issues; a pull request's own copy is never read. */
export const KNOWN_ISSUES_PATH = ".github/kto-known.yml";
/** More entries than any tree needs, and few enough to match each test against all of them. */
export const MAX_KNOWN_ISSUES = 2_000;

/**
 * `strictBrackets` makes an unclosed `[`, `{` or `(` an error, not a literal: a glob that
 * silently matches nothing would leave its failures counted as regressions.
 */
const GLOB_OPTIONS = { strictBrackets: true, dot: true } as const;

const glob = z
  .string()
  .min(1, "expected a glob of test names")
  .max(4096)
  .superRefine((pattern, ctx) => {
    try {
      picomatch.makeRe(pattern, GLOB_OPTIONS);
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `invalid glob: ${(error as Error).message}` });
    }
  });

const entrySchema = z
  .object({
    /** Globs over the test's path below its job: `suite › case`, as `kto compare` prints it. */
    tests: z.union([glob.transform((g) => [g]), z.array(glob).min(1).max(100)]),
    suite: z.string().optional(),
    arch: z.string().optional(),
    /** The job asks for all of these runner labels. */
    labels: z.array(z.string()).optional(),
    link: z.string().url("expected a link to the report (a URL)").optional(),
    /** `fail`: the test is expected to fail; `skip`: it is expected to be skipped. */
    expect: z.enum(["fail", "skip"]).default("fail"),
    /** It fails only sometimes: a pass is not a reason to drop the entry. */
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

export class KnownIssues {
  private readonly matchers: ((path: string) => boolean)[];

  constructor(
    readonly file: string,
    readonly entries: readonly KnownIssue[],
  ) {
    this.matchers = entries.map((entry) => picomatch(entry.tests, GLOB_OPTIONS));
  }

  static none(): KnownIssues {
    return new KnownIssues(KNOWN_ISSUES_PATH, []);
  }

  /** The first entry that covers this test in this job, or null. */
  match(scope: KnownScope, path: string): KnownIssue | null {
    for (const [i, entry] of this.entries.entries()) {
      if (entry.suite !== undefined && entry.suite !== scope.suite) continue;
      if (entry.arch !== undefined && entry.arch !== scope.arch) continue;
      if (entry.labels && !entry.labels.every((label) => scope.labels.includes(label))) continue;
      if (this.matchers[i]!(path)) return entry;
    }
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
