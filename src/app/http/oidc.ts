import { createRemoteJWKSet, jwtVerify } from "jose";
import { z } from "zod";

export interface OidcOptions {
  issuer: string;
  jwksUrl: string;
  audience: string;
}

/** The claims kto decides on, as GitHub Actions signs them for every job. */
const claimsSchema = z
  .object({
    repository: z.string(),
    run_id: z.string(),
    event_name: z.string(),
    /** `owner/repo/.github/workflows/<file>@<ref>` of the run's workflow… */
    workflow_ref: z.string(),
    /** …and of the workflow the job is defined in (another one when the job calls a reusable workflow). */
    job_workflow_ref: z.string(),
  })
  .passthrough();

export type ActionsClaims = z.output<typeof claimsSchema>;

export class UnauthorizedError extends Error {
  override readonly name = "UnauthorizedError";
}

/** Verifies a GitHub Actions OIDC token: signature against the issuer's JWKS, issuer, audience, expiry, and the claims kto needs. */
export function oidcVerifier(options: OidcOptions): (token: string) => Promise<ActionsClaims> {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl));
  return async (token) => {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, keys, { issuer: options.issuer, audience: options.audience }));
    } catch (error) {
      throw new UnauthorizedError((error as Error).message);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new UnauthorizedError(`the token has no string claim ${claims.error.issues.map((i) => i.path.join(".")).join(", ")}`);
    return claims.data;
  };
}

/** Where the App dispatched a job: the repository, and the runner workflow's file and ref there. */
export interface RunnerDispatch {
  repository: string;
  /** `.github/workflows/kto-runner.yml` */
  workflowPath: string;
  /** `refs/heads/<default branch>` */
  ref: string;
}

/**
 * Why the token is not from a run the App could have dispatched for `dispatch`, or null.
 * Only the runner workflow, dispatched at the default branch, runs what the App sent:
 * another workflow, another branch's copy of it, or another event's run would report
 * whatever its author wrote.
 */
export function notFromRunnerWorkflow(claims: ActionsClaims, dispatch: RunnerDispatch): string | null {
  const expected = `${dispatch.repository}/${dispatch.workflowPath}@${dispatch.ref}`;
  if (claims.repository !== dispatch.repository) return `the token is from ${claims.repository}, not ${dispatch.repository}`;
  if (claims.event_name !== "workflow_dispatch") return `event_name is ${claims.event_name}: the App starts its runs with workflow_dispatch`;
  if (claims.workflow_ref !== expected) return `workflow_ref is ${claims.workflow_ref}, not the runner workflow the App dispatches, ${expected}`;
  if (claims.job_workflow_ref !== expected) return `job_workflow_ref is ${claims.job_workflow_ref}: the job must be the runner workflow's own, ${expected}`;
  return null;
}
