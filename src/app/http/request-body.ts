import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../orchestrator/clock.js";
import { BodyBudget, clientOf, type BodyLimits, type BudgetRefusal } from "./body-budget.js";
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
 * still unread resets it, and a client still sending may then lose the answer (EPIPE or
 * ECONNRESET before it has read it); so, as web servers' lingering close does, only the
 * sending half is closed and the rest is read and dropped (never kept) until the client
 * stops sending or LINGER_MS pass.
 */
export function refuseBody(response: ServerResponse, error: BodyRefusedError): void {
  const headers: Record<string, string> = { connection: "close" };
  if (error.retryAfterS !== undefined) headers["retry-after"] = String(error.retryAfterS);
  const request = response.req;
  const socket = request.socket;
  // Node's server ends a "Connection: close" answer with destroySoon(), which destroys the
  // socket as soon as the answer is written, unread bytes and all: that is the reset.
  socket.destroySoon = function lingeringClose(this: typeof socket) {
    this.end();
  };
  send(response, error.status, { message: error.message }, "application/json", headers);
  request.resume();
  socket.resume();
  const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once("end", () => socket.destroy());
  socket.once("close", () => clearTimeout(linger));
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
 * all requests and by each client's as it arrives, never before (refused with 503 or 429
 * when there is no room), a client has at most a few bodies arriving at once (429), no
 * body is larger than its route takes (413, before a byte is read when it declares its
 * length), and a body that arrives too slowly or is still arriving after the limits'
 * timeout is cut off (408). A refused body's bytes are given back at once.
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
    const declared = request.headers["content-length"] === undefined ? null : Number(request.headers["content-length"]);
    if (declared !== null && declared > maxBytes) return Promise.reject(new BodyTooLargeError(maxBytes));
    // A declared length is only a claim: it reserves nothing, or a client could hold the
    // budget with bodies it never sends.
    const account = this.budget.open(clientOf(request.socket.remoteAddress));
    if (typeof account === "string") return Promise.reject(this.refusal(account));
    // Handed on, the body's text and what is made of it live until its response is done.
    response.once("close", () => account.close());
    return new Promise((resolve, reject) => {
      let received = 0;
      let chunks: Buffer[] = [];
      const stop = (error: Error) => {
        request.off("data", onData);
        cancelTimers();
        chunks = [];
        account.close();
        reject(error);
      };
      const cancelTimeout = this.clock.setTimer(
        () => stop(new BodyRefusedError(408, `the body did not arrive within ${this.limits.timeoutMs / 1000} s`)),
        this.limits.timeoutMs,
      );
      const cancelPace = this.keepPace(() => received, stop);
      const cancelTimers = () => {
        cancelTimeout();
        cancelPace();
      };
      const onData = (chunk: Buffer) => {
        received += chunk.length;
        // Still flowing, to no one: the refusal can be sent while the client is mid-upload.
        if (received > maxBytes) return stop(new BodyTooLargeError(maxBytes));
        const refused = account.take(chunk.length);
        if (refused) return stop(this.refusal(refused));
        inspect(chunk);
        chunks.push(chunk);
      };
      request.on("data", onData);
      request.once("end", () => {
        cancelTimers();
        account.arrived();
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

  /** Checks, window after window, that a body's bytes keep coming fast enough; returns a cancel function. */
  private keepPace(received: () => number, stop: (error: Error) => void): () => void {
    const { minBytesPerSecond, rateWindowMs } = this.limits;
    const least = (minBytesPerSecond * rateWindowMs) / 1000;
    let before = 0;
    let cancel = () => undefined as void;
    const check = () => {
      if (received() - before < least) {
        return stop(new BodyRefusedError(408, `the body arrived slower than ${size(minBytesPerSecond)}/s, the least the App takes`));
      }
      before = received();
      cancel = this.clock.setTimer(check, rateWindowMs);
    };
    cancel = this.clock.setTimer(check, rateWindowMs);
    return () => cancel();
  }

  private refusal(room: BudgetRefusal): BodyRefusedError {
    const retryAfterS = Math.ceil(this.limits.timeoutMs / 1000);
    switch (room) {
      case "bodies":
        return new BodyRefusedError(
          429,
          `this client has ${this.limits.bodiesPerClient} bodies arriving at once, the most one client may; retry later`,
          retryAfterS,
        );
      case "client":
        return new BodyRefusedError(
          429,
          `this client's bodies would hold more than ${size(this.limits.perClientBytes)} at once, the most one client's may; retry later`,
          retryAfterS,
        );
      case "total":
        return new BodyRefusedError(
          503,
          `the App's bodies would hold more than ${size(this.limits.totalBytes)} at once, the most it holds; retry later`,
          retryAfterS,
        );
    }
  }
}
