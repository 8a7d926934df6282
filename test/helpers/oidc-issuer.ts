import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export interface OidcIssuer {
  /** The issuer (`iss`), also where its JWKS is served (`/.well-known/jwks`). */
  url: string;
  jwksUrl: string;
  /** The token endpoint a run's action calls (ACTIONS_ID_TOKEN_REQUEST_URL), with its request token. */
  tokenRequest(repository: string, runId: string, claims?: Record<string, unknown>): { url: string; token: string };
  /** A signed token for a run, fetched as the action fetches it; `claims` override the run's own (a forged or foreign run). */
  token(repository: string, runId: string, audience: string, claims?: Record<string, unknown>): Promise<string>;
  /** A token as `token` makes it, but signed by a key this issuer never published (under its key id): a forgery. */
  forged(repository: string, runId: string, audience: string): Promise<string>;
  close(): Promise<void>;
}

/** The branch the kto App dispatches its runner workflow at: the default branch of every repository the GitHub API double serves. */
export const DISPATCH_REF = "refs/heads/master";

/** The claims GitHub signs for a run of the kto runner workflow, dispatched by the App at the default branch. */
export function runnerRunClaims(repository: string, runId: string): Record<string, unknown> {
  const workflowRef = `${repository}/.github/workflows/kto-runner.yml@${DISPATCH_REF}`;
  return {
    repository,
    run_id: runId,
    repository_owner: repository.split("/")[0],
    event_name: "workflow_dispatch",
    ref: DISPATCH_REF,
    workflow_ref: workflowRef,
    job_workflow_ref: workflowRef,
  };
}

/**
 * GitHub Actions' OIDC issuer as a runner sees it: one signing key, a JWKS, and a token
 * endpoint per run that signs a kto runner run's claims (`repository`, `run_id`, the
 * workflow and the event) for the audience asked for.
 */
export async function startOidcIssuer(): Promise<OidcIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "kto-local", alg: "RS256", use: "sig" };
  const runs = new Map<string, Record<string, unknown>>();
  let url = "";
  const signed = (run: Record<string, unknown>, audience: string, key: typeof privateKey) =>
    new SignJWT(run)
      .setProtectedHeader({ alg: "RS256", kid: jwk.kid })
      .setIssuer(url)
      .setAudience(audience)
      .setSubject(`repo:${String(run.repository)}:ref:${String(run.ref ?? DISPATCH_REF)}`)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(key);
  const server = createServer((request, response) => {
    const address = new URL(request.url ?? "/", "http://x");
    if (address.pathname === "/.well-known/jwks")
      return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    const run = runs.get((request.headers.authorization ?? "").replace(/^Bearer /, ""));
    if (address.pathname !== "/token" || !run) return void response.writeHead(401).end();
    void signed(run, address.searchParams.get("audience") ?? url, privateKey).then((value) =>
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tokenRequest = (repository: string, runId: string, claims: Record<string, unknown> = {}) => {
    const token = randomBytes(16).toString("hex");
    runs.set(token, { ...runnerRunClaims(repository, runId), ...claims });
    return { url: `${url}/token?api-version=2.0`, token };
  };
  return {
    url,
    jwksUrl: `${url}/.well-known/jwks`,
    tokenRequest,
    token: async (repository, runId, audience, claims) => {
      const request = tokenRequest(repository, runId, claims);
      const response = await fetch(`${request.url}&audience=${encodeURIComponent(audience)}`, { headers: { authorization: `Bearer ${request.token}` } });
      return ((await response.json()) as { value: string }).value;
    },
    forged: async (repository, runId, audience) => signed(runnerRunClaims(repository, runId), audience, (await generateKeyPair("RS256")).privateKey),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
