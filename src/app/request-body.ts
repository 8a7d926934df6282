import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../orchestrator/clock.js";
import { BodyBudget, clientOf, type BodyLimits } from "./body-budget.js";
import { send } from "./http-json.js";

export const MB = 1024 * 1024;

const size = (bytes: number) => (bytes >= MB ? `${bytes / MB} MB` : `${bytes / 1024} KB`);

/** A body the App would not read (whole): the answer says why, and the connection is closed. */
export class BodyRefusedError extends Error {
  override readonly name: string = "BodyRefusedError";
  constructor(
    readonly status: 408 | 413 | 429 | 503,
    message: string,
    /** Seconds after which the same body may be sent again. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

export class BodyTooLargeError extends BodyRefusedError {
  override readonly name = "BodyTooLargeError";
  constructor(readonly limit: number) {
    super(413, `the body is larger than ${size(limit)}, the most this route takes`);
  }
}

/** How long a refused upload is read and dropped, so that its client reads the answer. */
const LINGER_MS = 5_000;

/**
 * Answers the refusal and closes the connection. Closing a socket with the upload's bytes
 * still unread resets it, and a client still sending may then lose the answer; so, as web
 * servers' lingering close does, the rest is read and dropped (never kept) until the
 * client stops sending or LINGER_MS pass.
 */
export function refuseBody(response: ServerResponse, error: BodyRefusedError): void {
  const headers: Record<string, string> = { connection: "close" };
  if (error.retryAfterS !== undefined) headers["retry-after"] = String(error.retryAfterS);
  send(response, error.status, { message: error.message }, "application/json", headers);
  const request = response.req;
  request.resume();
  const linger = setTimeout(() => request.socket.destroy(), LINGER_MS).unref();
  request.socket.once("close", () => clearTimeout(linger));
}

/**
 * A body read whole. Its bytes stay counted against the budget until its response has
 * closed; its text, made only once a route has taken the body, is not counted.
 */
export interface Body {
  text(): string;
}

/**
 * The one way the App reads a request body: every byte is taken from a budget shared by
 * all requests and by each client's (refused with 503 or 429 when it has no room, before a
 * byte is read when the body declares its length), no body is larger than its route takes
 * (413), and a body still arriving after the limits' timeout is cut off (408). A refused
 * body's bytes are dropped at once.
 */
export class BodyIntake {
  private readonly budget: BodyBudget;

  constructor(
    readonly limits: BodyLimits,
    private readonly clock: Pick<Clock, "setTimer">,
    onHeld?: (bytes: number) => void,
  ) {
    this.budget = new BodyBudget(limits, onHeld);
  }

  /** Reads the body of `response.req`, at most `maxBytes`; `inspect` sees each chunk as it arrives. */
  read(response: ServerResponse, maxBytes: number, inspect: (chunk: Buffer) => void = () => undefined): Promise<Body> {
    const request: IncomingMessage = response.req;
    const client = clientOf(request.socket.remoteAddress);
    const declared = request.headers["content-length"] === undefined ? null : Number(request.headers["content-length"]);
    let taken = 0;
    const give = () => {
      this.budget.give(client, taken);
      taken = 0;
    };
    const refusal = (room: "total" | "client") => {
      const retryAfterS = Math.ceil(this.limits.timeoutMs / 1000);
      return room === "client"
        ? new BodyRefusedError(
            429,
            `this client's bodies would hold more than ${size(this.limits.perClientBytes)} at once, the most one client's may; retry later`,
            retryAfterS,
          )
        : new BodyRefusedError(
            503,
            `the App's bodies would hold more than ${size(this.limits.totalBytes)} at once, the most it holds; retry later`,
            retryAfterS,
          );
    };
    if (declared !== null && declared > maxBytes) return Promise.reject(new BodyTooLargeError(maxBytes));
    // A declared length is taken whole up front: once started, such a body is never refused for room.
    if (declared !== null) {
      const refused = this.budget.take(client, declared);
      if (refused) return Promise.reject(refusal(refused));
      taken = declared;
    }
    // Handed on, the body's text and what is made of it live until its response is done.
    response.once("close", give);
    return new Promise((resolve, reject) => {
      let received = 0;
      let chunks: Buffer[] = [];
      const stop = (error: Error) => {
        request.off("data", onData);
        cancelTimer();
        chunks = [];
        give();
        reject(error);
      };
      const cancelTimer = this.clock.setTimer(
        () => stop(new BodyRefusedError(408, `the body did not arrive within ${this.limits.timeoutMs / 1000} s`)),
        this.limits.timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        // Still flowing, to no one: the refusal can be sent while the client is mid-upload.
        if (received > maxBytes) return stop(new BodyTooLargeError(maxBytes));
        if (received > taken) {
          const refused = this.budget.take(client, received - taken);
          if (refused) return stop(refusal(refused));
          taken = received;
        }
        inspect(chunk);
        chunks.push(chunk);
      };
      request.on("data", onData);
      request.once("end", () => {
        cancelTimer();
        const whole = chunks;
        chunks = [];
        resolve({ text: () => Buffer.concat(whole).toString("utf8") });
      });
      request.once("error", stop);
      request.once("close", () => {
        if (!request.complete) stop(new Error("the client closed the connection before the body ended"));
      });
    });
  }
}
