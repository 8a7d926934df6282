import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { BodyIntake } from "./request-body.js";
import type { KtoRoutes } from "./routes.js";
import { verifiedDelivery } from "../webhooks/verified-delivery.js";

export const WEBHOOKS_PATH = "/api/github/webhooks";

/** Probot's webhook middleware: whether it answered the request, calling `next` when it did not. */
type WebhookMiddleware = (request: IncomingMessage, response: ServerResponse, next: () => void) => boolean | void | Promise<boolean | void>;

/** The webhook path as @octokit/webhooks matches it, ignoring the URL's trailing slashes. */
function isWebhookPath(url = "/"): boolean {
  try {
    return new URL(url.replace(/\/+$/, "") || "/", "http://kto").pathname === WEBHOOKS_PATH;
  } catch {
    return false;
  }
}

function isKtoPath(url = "/"): boolean {
  return url === "/kto" || url.startsWith("/kto/") || url.startsWith("/kto?");
}

function notFound(response: ServerResponse): void {
  response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "not found" }));
}

/** The App's HTTP server: kto's routes under /kto, and Probot's webhooks for checked deliveries. */
export function appRequestListener(deps: { routes: KtoRoutes; webhooks: WebhookMiddleware; intake: BodyIntake; webhookSecret: string }): RequestListener {
  return (request, response) => {
    void (async () => {
      if (isKtoPath(request.url) && (await deps.routes(request, response))) return;
      // Probot reads whatever POST it is handed: it is handed checked deliveries only.
      if (request.method === "POST") {
        if (!isWebhookPath(request.url)) return notFound(response);
        if (!(await verifiedDelivery(deps.intake, deps.webhookSecret, response))) return;
      }
      const handled = await deps.webhooks(request, response, () => notFound(response));
      if (handled === false && !response.headersSent) response.writeHead(404).end();
    })().catch((error: Error) => {
      // An error handler can never crash the process.
      if (!response.headersSent) response.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: error.message }));
    });
  };
}
