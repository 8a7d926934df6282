import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";

export interface OidcOptions {
  issuer: string;
  jwksUrl: string;
  audience: string;
}

export interface ActionsClaims extends JWTPayload {
  repository: string;
  run_id: string;
}

export class UnauthorizedError extends Error {
  override readonly name = "UnauthorizedError";
}

/** Verifies a GitHub Actions OIDC token: signature against the issuer's JWKS, issuer, audience, expiry. */
export function oidcVerifier(options: OidcOptions): (token: string) => Promise<ActionsClaims> {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl));
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: options.issuer, audience: options.audience });
      if (typeof payload.repository !== "string" || typeof payload.run_id !== "string") throw new Error("no repository or run_id claim");
      return payload as ActionsClaims;
    } catch (error) {
      throw new UnauthorizedError((error as Error).message);
    }
  };
}
