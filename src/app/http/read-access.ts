import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { send } from "./http-json.js";
import type { ReadAccess } from "../settings.js";

const digest = (text: string) => createHash("sha256").update(text).digest();

/** The token a request presents: `Bearer <token>` (scrapers, scripts) or HTTP Basic with the token as the password (browsers). */
function presentedToken(authorization: string | undefined): string | null {
  const [scheme, value] = (authorization ?? "").split(" ", 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === "bearer") return value;
  if (scheme?.toLowerCase() !== "basic") return null;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/** Why this request may not read the App's state, or null when it may. */
function readRefusal(access: ReadAccess, request: IncomingMessage): string | null {
  if (access.kind === "public") return null;
  if (access.token === null)
    return "reading the App's state is off: set KTO_READ_TOKEN on the App (openssl rand -hex 32) and send it as Authorization: Bearer <token>, or set KTO_READ_ACCESS=public where the App is not reachable from outside";
  const given = presentedToken(request.headers.authorization);
  // Digests are of equal length, so the comparison takes the same time whatever is given.
  if (given !== null && timingSafeEqual(digest(given), digest(access.token))) return null;
  return "reading the App's state needs its read token (KTO_READ_TOKEN): send Authorization: Bearer <token>, or HTTP Basic with the token as the password";
}

export function mayRead(access: ReadAccess, request: IncomingMessage): boolean {
  return readRefusal(access, request) === null;
}

/** Answers 401 to a request that may not read the App's state (mayRead said no), saying why. */
export function refuseRead(access: ReadAccess, request: IncomingMessage, response: ServerResponse): void {
  const refusal = readRefusal(access, request)!;
  const challenges = access.kind === "token" && access.token ? ['Basic realm="kto", charset="UTF-8"', 'Bearer realm="kto"'] : ['Bearer realm="kto"'];
  send(response, 401, { message: refusal }, "application/json", { "www-authenticate": challenges });
}
