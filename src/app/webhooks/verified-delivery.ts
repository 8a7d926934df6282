import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { send } from "../http/http-json.js";
import { BodyRefusedError, refuseBody, type BodyIntake } from "../http/request-body.js";

/** GitHub caps webhook payloads at 25 MB: it never delivers a larger one. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/**
 * Reads a delivery and checks its signature before Probot sees it: Probot buffers a body of
 * any size, and logs one that fails the check, whole. The signature is computed over the
 * bytes as they arrive, so a body whose signature does not match is never copied into a
 * text: it costs its bytes in the body budget until it ends, and no more. (It has to be
 * read to its end all the same: a signature can only be checked against the last byte.)
 * False when it has answered the request itself.
 */
export async function verifiedDelivery(intake: BodyIntake, secret: string, response: ServerResponse): Promise<boolean> {
  const request = response.req as IncomingMessage & { body?: string };
  const refuse = (message: string) => {
    send(response, 401, { message });
    return false;
  };
  const signature = request.headers["x-hub-signature-256"];
  if (signature === undefined) return refuse("the webhook has no X-Hub-Signature-256: set the App's webhook secret to WEBHOOK_SECRET");
  const hmac = createHmac("sha256", secret);
  let body;
  try {
    body = await intake.read(response, MAX_WEBHOOK_BYTES, (chunk) => hmac.update(chunk));
  } catch (error) {
    if (!(error instanceof BodyRefusedError)) throw error;
    refuseBody(response, error);
    return false;
  }
  const expected = Buffer.from(`sha256=${hmac.digest("hex")}`);
  const given = Buffer.from(String(signature));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse("the webhook's X-Hub-Signature-256 does not match WEBHOOK_SECRET");
  // @octokit/webhooks' middleware takes a body that was read before it as it is.
  request.body = body.text();
  return true;
}
