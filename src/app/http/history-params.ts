import { z, type ZodTypeAny } from "zod";
import { IDENTITY_SEPARATOR, identityKey } from "../../runners/history/test-identity.js";

/** A dashboard page's query string that does not say what the page needs: answered with 400 and this message. */
export class QueryParamsError extends Error {
  override readonly name = "QueryParamsError";
}

/** What a dashboard page's query string names that kto does not have: answered with 404 and this message. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

/** owner/name as GitHub allows them: nothing a link or a LIKE pattern could be steered by. */
const repo = z.string().regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, "must be owner/name");
/** A full commit id: history stores full ids, and a prefix could name two commits. */
const sha = z.string().regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, "must be a full commit id (40 or 64 lowercase hex digits)");

export const pullParams = z.object({
  repo,
  number: z.coerce
    .number()
    .int()
    .positive()
    .max(2 ** 31),
});

/** A test by its identity key (as the other pages link it), or by its job and `path › name` as shown. */
export const testParams = z
  .object({
    repo,
    key: z.string().min(1).max(4000).optional(),
    job: z.string().min(1).max(300).optional(),
    test: z.string().min(1).max(3000).optional(),
  })
  .refine((p) => p.key !== undefined || (p.job !== undefined && p.test !== undefined), "give key, or job and test")
  .transform((p) => {
    if (p.key !== undefined) return { repo: p.repo, key: p.key };
    const levels = p.test!.split(IDENTITY_SEPARATOR);
    return { repo: p.repo, key: identityKey({ job: p.job!, path: levels.slice(0, -1), name: levels.at(-1)!, occurrence: 1 }) };
  });

export const compareParams = z.object({ repo, base: sha, head: sha });

/** A bisection by its id as the store makes them (12 lowercase hex digits); without one, the repository's newest bisections. */
export const bisectionParams = z.object({
  repo,
  id: z
    .string()
    .regex(/^[0-9a-f]{12}$/, "must be a bisection id (12 lowercase hex digits)")
    .optional(),
});

export const activityParams = z.object({
  hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 14)
    .default(24),
});

/** The query string's parameters read by `schema`; a parameter given twice is refused, not guessed at. */
export function readParams<S extends ZodTypeAny>(schema: S, url: URL): z.output<S> {
  const raw: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (name in raw) throw new QueryParamsError(`${name} is given more than once`);
    raw[name] = value;
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data as z.output<S>;
  throw new QueryParamsError(parsed.error.issues.map((issue) => (issue.path.length ? `${issue.path.join(".")}: ${issue.message}` : issue.message)).join("; "));
}
