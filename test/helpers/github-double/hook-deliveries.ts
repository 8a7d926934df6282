import { sign } from "@octokit/webhooks-methods";
import type { CheckedRequest } from "./shape.js";

/** One attempt at delivering an event to the App's webhook, as GitHub logs it. */
export interface HookDelivery {
  id: number;
  /** The event's id (X-GitHub-Delivery), shared by its redeliveries. */
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  /** 0 when GitHub could not reach the App. */
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  /** What was sent, for a redelivery. */
  body: string;
}

/** Where GitHub sends the App's webhooks, and the secret it signs them with. */
export interface WebhookTarget {
  url: string;
  secret: string;
}

export interface HookState {
  hookDeliveries: HookDelivery[];
  webhookTarget: WebhookTarget | null;
  nextId: number;
}

/**
 * Delivers an event as GitHub does (signed, with its event name and delivery id) and logs
 * the attempt with the App's answer, or status 0 when the App could not be reached.
 */
export async function deliverWebhook(
  state: HookState,
  target: WebhookTarget,
  delivery: { event: string; body: string; guid: string; redelivery?: boolean },
): Promise<number> {
  const started = Date.now();
  let status_code = 0;
  let status = "failed to connect";
  try {
    const response = await fetch(target.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": delivery.event,
        "x-github-delivery": delivery.guid,
        "x-hub-signature-256": await sign(target.secret, delivery.body),
      },
      body: delivery.body,
    });
    await response.arrayBuffer();
    status_code = response.status;
    status = response.ok ? "OK" : `Invalid HTTP Response: ${response.status}`;
  } catch {
    // Nothing listens there: GitHub logs the attempt as failed.
  }
  let payload: { action?: string; installation?: { id: number }; repository?: { id: number } } = {};
  try {
    payload = JSON.parse(delivery.body) as typeof payload;
  } catch {
    // A test's malformed body: logged without its fields.
  }
  state.hookDeliveries.push({
    id: state.nextId++,
    guid: delivery.guid,
    delivered_at: new Date().toISOString(),
    redelivery: delivery.redelivery ?? false,
    duration: (Date.now() - started) / 1000,
    status,
    status_code,
    event: delivery.event,
    action: payload.action ?? null,
    installation_id: payload.installation?.id ?? null,
    repository_id: payload.repository?.id ?? null,
    body: delivery.body,
  });
  return status_code;
}

type HookHandler = (request: CheckedRequest, state: HookState) => { status: number; body: unknown; headers?: Record<string, string> };

const succeeded = (d: HookDelivery) => d.status_code >= 200 && d.status_code < 300;

/**
 * The App's delivery log, newest first, a page at a time (GitHub's cursor is opaque; here it
 * is the position), filtered by outcome; and a redelivery, which GitHub accepts at once and
 * sends a moment later, to wherever the App's webhook URL is now.
 */
export const HOOK_DELIVERY_HANDLERS: Record<string, HookHandler> = {
  "apps/list-webhook-deliveries": (request, state) => {
    const query = new URL(request.url, "http://x").searchParams;
    const perPage = Number(query.get("per_page") ?? 30);
    const from = Number(query.get("cursor") ?? 0);
    const wanted = query.get("status");
    const all = [...state.hookDeliveries]
      .reverse()
      .filter((d) => wanted === null || (wanted === "success") === succeeded(d))
      .map(({ body: _, ...listed }) => ({ ...listed, throttled_at: null }));
    const page = all.slice(from, from + perPage);
    const next =
      from + perPage < all.length
        ? `</app/hook/deliveries?per_page=${perPage}&cursor=${from + perPage}${wanted ? `&status=${wanted}` : ""}>; rel="next"`
        : undefined;
    return { status: 200, body: page, ...(next ? { headers: { link: next } } : {}) };
  },
  "apps/redeliver-webhook-delivery": (request, state) => {
    const delivery = state.hookDeliveries.find((d) => d.id === Number(request.params.delivery_id));
    if (!delivery) return { status: 404, body: { message: "Not Found" } };
    const target = state.webhookTarget;
    if (target) setTimeout(() => void deliverWebhook(state, target, { event: delivery.event, body: delivery.body, guid: delivery.guid, redelivery: true }), 10);
    return { status: 202, body: {} };
  },
};
