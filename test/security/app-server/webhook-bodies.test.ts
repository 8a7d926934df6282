import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import { postStream, startAppProcess, type AppProcess } from "../../helpers/app-process.js";
import { REPO, scratch, useScratch } from "./app-processes.js";
import { until } from "../../helpers/until.js";

/** What the App does with a webhook's body: a large or unsigned one refused before it is read whole, and none of any logged. */

const MB = 1024 * 1024;

useScratch();

const marker = () => `kto-marker-${randomBytes(8).toString("hex")}`;

/** A webhook body of `total` bytes starting with `mark`, made of one reused megabyte: the test never holds more. */
function* body(mark: string, total: number): Generator<Buffer> {
  const head = Buffer.from(`{"action":"opened","note":"${mark}","pad":"`);
  yield head;
  const filler = Buffer.alloc(MB, 0x61);
  for (let sent = head.length; sent < total; sent += MB) yield sent + MB <= total ? filler : filler.subarray(0, total - sent);
}

const unsignedHeaders = {
  "content-type": "application/json",
  "x-github-event": "pull_request",
  "x-github-delivery": "attack-1",
  "x-hub-signature-256": `sha256=${"0".repeat(64)}`,
};

describe("webhook bodies, before their signature is checked", () => {
  let app: AppProcess;
  beforeAll(async () => {
    app = await startAppProcess(join(scratch, "webhooks"));
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("refuses a body declared larger than 25 MB with 413 before reading it, and logs none of it", async () => {
    const mark = marker();
    const answer = await postStream(`${app.url}/api/github/webhooks`, unsignedHeaders, body(mark, 26 * MB), 26 * MB);
    expect(answer.status).toBe(413);
    expect(answer.body).toContain("25 MB");
    expect(await app.logContains(mark)).toBe(false);
  });

  it("answers 413 to a client that sends its whole oversized body before it reads: the answer is not lost to a reset", async () => {
    // As curl does without Expect: 100-continue. Were the socket destroyed with the upload
    // unread, the client's writes would fail with EPIPE or ECONNRESET and the answer be lost.
    const mark = marker();
    const { host, hostname, port } = new URL(app.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), hostname.replace(/^\[|\]$/g, ""));
      let text = "";
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("end", () => resolve(text));
      socket.on("error", (error) =>
        reject(new Error(`the upload failed with ${(error as NodeJS.ErrnoException).code ?? error.message}; read so far: ${JSON.stringify(text)}`)),
      );
      const headers = Object.entries({ ...unsignedHeaders, host, "content-length": String(26 * MB) })
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("");
      socket.write(`POST /api/github/webhooks HTTP/1.1\r\n${headers}\r\n`);
      void (async () => {
        for (const chunk of body(mark, 26 * MB)) {
          if (!socket.write(chunk)) await new Promise((drained) => socket.once("drain", drained));
        }
        socket.end();
      })().catch(() => undefined);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain("25 MB");
    expect(await app.logContains(mark)).toBe(false);
  });

  it("refuses a chunked body without Content-Length once it passes 25 MB, and logs none of it", async () => {
    const mark = marker();
    const answer = await postStream(`${app.url}/api/github/webhooks`, unsignedHeaders, body(mark, 26 * MB));
    expect(answer.status).toBe(413);
    expect(await app.logContains(mark)).toBe(false);
  });

  it("refuses a small body whose signature does not match with 401, and logs none of it", async () => {
    const mark = marker();
    const answer = await postStream(`${app.url}/api/github/webhooks`, unsignedHeaders, body(mark, 4096));
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toEqual({ message: "the webhook's X-Hub-Signature-256 does not match WEBHOOK_SECRET" });
    const unsigned = await postStream(`${app.url}/api/github/webhooks`, { ...unsignedHeaders, "x-hub-signature-256": "" }, body(mark, 4096));
    expect(unsigned.status).toBe(401);
    expect(await app.logContains(mark)).toBe(false);
  });
});

describe("signed webhook payloads", () => {
  it("are not logged when handling one fails: the failure is", async () => {
    const app = await startAppProcess(join(scratch, "handler-failure"));
    try {
      const mark = marker();
      // Signed, so it is handled, but with no head commit: the handler throws.
      await app.deliver("pull_request", {
        action: "opened",
        number: 1,
        pull_request: { number: 1, title: mark, labels: [] },
        repository: { full_name: REPO, name: "Hello-World", owner: { login: "Codertocat" }, default_branch: "master" },
        installation: { id: 7 },
      });
      await until(async () => (await app.logContains("kto: handling pull_request failed")) || null, "the failure to be logged", 15_000);
      expect(await app.logContains(mark)).toBe(false);
    } finally {
      await app.stop();
    }
  });
});
