import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

export interface OidcIssuer {
  /** The issuer (`iss`), also where its JWKS is served (`/.well-known/jwks`). */
  url: string;
  jwksUrl: string;
  /** The token endpoint a run's action calls (ACTIONS_ID_TOKEN_REQUEST_URL), with its request token. */
  tokenRequest(repository: string, runId: string): { url: string; token: string };
  /** A signed token for a run, fetched as the action fetches it. */
  token(repository: string, runId: string, audience: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * GitHub Actions' OIDC issuer as a runner sees it: one signing key, a JWKS, and a token
 * endpoint per run that signs `repository` and `run_id` claims for the audience asked for.
 */
export async function startOidcIssuer(): Promise<OidcIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "kto-local", alg: "RS256", use: "sig" };
  const runs = new Map<string, { repository: string; runId: string }>();
  let url = "";
  const server = createServer((request, response) => {
    const address = new URL(request.url ?? "/", "http://x");
    if (address.pathname === "/.well-known/jwks") return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    const run = runs.get((request.headers.authorization ?? "").replace(/^Bearer /, ""));
    if (address.pathname !== "/token" || !run) return void response.writeHead(401).end();
    void new SignJWT({ repository: run.repository, run_id: run.runId, repository_owner: run.repository.split("/")[0] })
      .setProtectedHeader({ alg: "RS256", kid: jwk.kid })
      .setIssuer(url)
      .setAudience(address.searchParams.get("audience") ?? url)
      .setSubject(`repo:${run.repository}:ref:refs/heads/main`)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey)
      .then((value) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value })));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tokenRequest = (repository: string, runId: string) => {
    const token = randomBytes(16).toString("hex");
    runs.set(token, { repository, runId });
    return { url: `${url}/token?api-version=2.0`, token };
  };
  return {
    url,
    jwksUrl: `${url}/.well-known/jwks`,
    tokenRequest,
    token: async (repository, runId, audience) => {
      const request = tokenRequest(repository, runId);
      const response = await fetch(`${request.url}&audience=${encodeURIComponent(audience)}`, { headers: { authorization: `Bearer ${request.token}` } });
      return ((await response.json()) as { value: string }).value;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
