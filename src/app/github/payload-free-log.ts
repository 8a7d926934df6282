import { Probot } from "probot";
import type { AppSettings } from "../settings.js";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

/**
 * An error as kto logs it: its message, stack and own fields, and its causes, but never
 * the `event` that @octokit/webhooks attaches to it, whose payload is the whole delivery.
 */
function withoutPayload(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const fields: Record<string, unknown> = { type: error.name, message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) if (key !== "event") fields[key] = value instanceof Error ? withoutPayload(value) : value;
  if (error instanceof AggregateError) fields.errors = error.errors.map(withoutPayload);
  if (error.cause !== undefined) fields.cause = withoutPayload(error.cause);
  return fields;
}

/** Probot logs a received `{ event }` whole (at debug); kto's handlers log an event's name. */
function eventName(event: unknown): unknown {
  if (typeof event !== "object" || event === null) return event;
  const { id, name } = event as { id?: unknown; name?: unknown };
  return { id, name };
}

/**
 * Probot's logger (its format, level and output) with serializers that leave webhook
 * payloads out of every line. Probot builds its logger only inside a Probot, so one is
 * made to lend it.
 */
export async function payloadFreeLog(settings: AppSettings, level: LogLevel): Promise<Probot["log"]> {
  const lender = await new Probot({ appId: settings.APP_ID, privateKey: settings.PRIVATE_KEY, logLevel: level }).ready();
  return lender.log.child({}, { serializers: { err: withoutPayload, event: eventName } });
}
