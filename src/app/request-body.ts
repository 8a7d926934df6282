import type { IncomingMessage, ServerResponse } from "node:http";
import { send } from "./http-json.js";

export const MB = 1024 * 1024;

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
  constructor(readonly limit: number) {
    super(`the body is larger than ${limit >= MB ? `${limit / MB} MB` : `${limit / 1024} KB`}, the most this route takes`);
  }
}

/** How long a refused upload is read and dropped, so that its client reads the answer. */
const LINGER_MS = 5_000;

/**
 * Answers 413 and closes the connection. Closing a socket with the upload's bytes still
 * unread resets it, and a client still sending may then lose the answer; so, as web
 * servers' lingering close does, the rest is read and dropped (never kept) until the
 * client stops sending or LINGER_MS pass.
 */
export function refuseBody(response: ServerResponse, error: BodyTooLargeError): void {
  send(response, 413, { message: error.message }, "application/json", { connection: "close" });
  const request = response.req;
  request.resume();
  const linger = setTimeout(() => request.socket.destroy(), LINGER_MS).unref();
  request.socket.once("close", () => clearTimeout(linger));
}

/**
 * The body, if it is at most `limit` bytes: a larger Content-Length is refused before a
 * byte is read, and a body without one (chunked) is counted as it arrives and dropped
 * once it passes the limit, so a request holds at most `limit` bytes of memory.
 */
export function readBody(request: IncomingMessage, limit: number): Promise<string> {
  if (Number(request.headers["content-length"] ?? 0) > limit) return Promise.reject(new BodyTooLargeError(limit));
  return new Promise((resolve, reject) => {
    let size = 0;
    let chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Still flowing, to no one: the refusal can be sent while the client is mid-upload.
      request.off("data", onData);
      chunks = [];
      reject(new BodyTooLargeError(limit));
    };
    request.on("data", onData);
    request.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.once("error", reject);
    request.once("close", () => {
      chunks = [];
      if (!request.complete) reject(new Error("the client closed the connection before the body ended"));
    });
  });
}
