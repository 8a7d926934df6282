import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "@jest/globals";
import { sign } from "@octokit/webhooks-methods";
import { BodyBudget, clientOf, DEFAULT_BODY_LIMITS } from "../../src/app/http/body-budget.js";
import { WEBHOOKS_PATH, type RunningApp, type StartOptions } from "../../src/app/server.js";
import { postStream } from "../helpers/app-process.js";
import type { GitHubApiDouble } from "../helpers/github-api-double.js";
import { startTestApp } from "../helpers/test-app.js";
import { until } from "../helpers/until.js";

/**
 * Bodies strangers send the App before anything about them is known to be true: what they
 * may make it hold, and for how long. The App's own meter (every byte a body takes from its
 * budget) is what is measured, not the process's memory, which the collector blurs.
 */

const MB = 1024 * 1024;
const SECRET = "webhook-secret";
const WEBHOOK_MAX = 25 * MB;

interface Bodies {
  app: RunningApp;
  github: GitHubApiDouble;
  /** The most the App's bodies held at once, and now. */
  peak(): number;
  held(): number;
}

let open: (() => Promise<void>) | null = null;
afterEach(async () => {
  await open?.();
  open = null;
});

async function start(bodies: StartOptions["bodies"] = {}): Promise<Bodies> {
  let peak = 0;
  let held = 0;
  const running = await startTestApp({
    settings: { WEBHOOK_SECRET: SECRET },
    start: {
      bodies: {
        ...bodies,
        onHeld: (bytes) => {
          held = bytes;
          peak = Math.max(peak, bytes);
        },
      },
    },
  });
  open = running.close;
  return { app: running.app, github: running.github, peak: () => peak, held: () => held };
}

/** A gate a slow client waits at between chunks; open() lets every waiting one go on. */
function gate(): { wait: Promise<void>; open(): void } {
  let open = () => undefined as void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** `bytes` of padding, a megabyte at a time. */
function* padding(bytes: number): Generator<Buffer> {
  const filler = Buffer.alloc(MB, 0x61);
  for (; bytes > 0; bytes -= MB) yield filler.subarray(0, Math.min(bytes, MB));
}

/** `total` bytes of a JSON object: its first `first` bytes, then (once `go` resolves) the rest, a megabyte at a time. */
async function* jsonBody(total: number, first = MB, go: Promise<void> = Promise.resolve()): AsyncGenerator<Buffer> {
  const head = Buffer.from('{"zen":"Keep it logically awesome.","hook_id":1,"pad":"');
  const tail = Buffer.from('"}');
  const pad = total - head.length - tail.length;
  const early = Math.min(pad, first - head.length);
  yield head;
  yield* padding(early);
  await go;
  yield* padding(pad - early);
  yield tail;
}

const badlySigned = {
  "content-type": "application/json",
  "x-github-event": "ping",
  "x-github-delivery": "attack",
  "x-hub-signature-256": `sha256=${"0".repeat(64)}`,
};

async function signed(total: number): Promise<{ headers: Record<string, string>; chunks: Buffer[] }> {
  const chunks: Buffer[] = [];
  for await (const chunk of jsonBody(total)) chunks.push(Buffer.from(chunk));
  const body = Buffer.concat(chunks).toString();
  return {
    headers: {
      "content-type": "application/json",
      "x-github-event": "ping",
      "x-github-delivery": randomUUID(),
      "x-hub-signature-256": await sign(SECRET, body),
    },
    chunks,
  };
}

/** Gives one byte of a body, then nothing until `go` resolves: a client that holds its connection open. */
async function* stalled(go: Promise<void>): AsyncGenerator<Buffer> {
  yield Buffer.from("{");
  await go;
}

/** `chunks` chunks of `bytes` each, `everyMs` apart: a body that keeps coming, slowly. */
async function* trickle(bytes: number, chunks: number, everyMs: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < chunks; i++) {
    yield Buffer.alloc(bytes, 0x61);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

describe("webhook bodies with a bad signature, many at once", () => {
  it("hold only what has arrived: 40 bodies declaring 25 MB from 8 clients hold the 40 MB they sent, and once stalled are dropped with 408", async () => {
    const s = await start();
    const never = gate();
    const url = `${s.app.url}${WEBHOOKS_PATH}`;
    // Each sends its first megabyte and stops: all 40 are in flight at once, as an attack's are.
    const sent = Array.from({ length: 40 }, (_, i) =>
      postStream(url, badlySigned, jsonBody(WEBHOOK_MAX, MB, never.wait), WEBHOOK_MAX, `127.0.0.${2 + (i % 8)}`),
    );
    await until(() => s.held() === 40 * MB, "40 bodies holding a megabyte each");
    const all = await Promise.all(sent);
    expect(all.map((a) => a.status)).toEqual(Array(40).fill(408));
    expect(s.peak()).toBe(40 * MB);
    await until(() => s.held() === 0, "every body's bytes given back");
    never.open();
  });

  it("do not keep out a signed delivery from another client: per-client limits leave it room beside three that flood", async () => {
    // About bytes held, not pace: the flood waits at its gate for as long as the test needs.
    const s = await start({ rateWindowMs: 60_000 });
    const go = gate();
    const url = `${s.app.url}${WEBHOOKS_PATH}`;
    // Three clients send all but the last kilobyte of a 25 MB body each, and wait.
    const first = WEBHOOK_MAX - 1024;
    const flood = Array.from({ length: 3 }, (_, i) => postStream(url, badlySigned, jsonBody(WEBHOOK_MAX, first, go.wait), WEBHOOK_MAX, `127.0.0.${2 + i}`));
    await until(() => s.held() === 3 * first, "the flood holding 75 MB");
    const delivery = await signed(20 * MB);
    const answer = await postStream(url, delivery.headers, delivery.chunks, 20 * MB, "127.0.0.9");
    expect(answer.status).toBe(200);
    expect(s.peak()).toBe(3 * first + 20 * MB);
    go.open();
    expect((await Promise.all(flood)).map((a) => a.status)).toEqual([401, 401, 401]);
  });

  it("that declare 25 MB and send nothing more hold nothing more: six such clients leave room for a signed delivery, and are dropped soon", async () => {
    const s = await start();
    const never = gate();
    const url = `${s.app.url}${WEBHOOKS_PATH}`;
    const idle = Array.from({ length: 6 }, (_, i) => postStream(url, badlySigned, stalled(never.wait), WEBHOOK_MAX, `127.0.0.${2 + i}`));
    await until(() => s.held() === 6, "six idle bodies holding the byte each sent", 5_000);
    const delivery = await signed(20 * MB);
    const answer = await postStream(url, delivery.headers, delivery.chunks, 20 * MB, "127.0.0.9");
    expect(answer.status).toBe(200);
    for (const dropped of await Promise.all(idle)) {
      expect(dropped.status).toBe(408);
      expect(dropped.headers.connection).toBe("close");
      expect(JSON.parse(dropped.body)).toEqual({ message: "the body arrived slower than 64 KB/s, the least the App takes" });
    }
    await until(() => s.held() === 0, "the idle bodies' bytes given back");
    never.open();
  });

  it("from one client are at most 32 arriving at once: one more is refused with 429 before it is read", async () => {
    const s = await start();
    const never = gate();
    const url = `${s.app.url}${WEBHOOKS_PATH}`;
    const idle = Array.from({ length: DEFAULT_BODY_LIMITS.bodiesPerClient }, () => postStream(url, badlySigned, stalled(never.wait), WEBHOOK_MAX, "127.0.0.2"));
    await until(() => s.held() === DEFAULT_BODY_LIMITS.bodiesPerClient, "32 bodies arriving", 5_000);
    const ninth = await postStream(url, badlySigned, jsonBody(MB), MB, "127.0.0.2");
    expect(ninth.status).toBe(429);
    expect(ninth.headers["retry-after"]).toBe(String(DEFAULT_BODY_LIMITS.timeoutMs / 1000));
    expect(JSON.parse(ninth.body)).toEqual({ message: "this client has 32 bodies arriving at once, the most one client may; retry later" });
    expect(s.held()).toBe(DEFAULT_BODY_LIMITS.bodiesPerClient);
    const other = await postStream(url, badlySigned, jsonBody(MB), MB, "127.0.0.3");
    expect(other.status).toBe(401);
    expect((await Promise.all(idle)).map((a) => a.status)).toEqual(Array(DEFAULT_BODY_LIMITS.bodiesPerClient).fill(408));
    never.open();
  });

  it("a signed 20 MB delivery alone passes, and gives its bytes back once answered", async () => {
    const s = await start();
    const delivery = await signed(20 * MB);
    const answer = await postStream(`${s.app.url}${WEBHOOKS_PATH}`, delivery.headers, delivery.chunks, 20 * MB);
    expect(answer.status).toBe(200);
    expect(s.peak()).toBe(20 * MB);
    await until(() => s.held() === 0, "the delivery's bytes given back");
  });

  it("a signed 25 MB delivery, GitHub's largest, passes", async () => {
    const s = await start();
    const delivery = await signed(WEBHOOK_MAX);
    const answer = await postStream(`${s.app.url}${WEBHOOKS_PATH}`, delivery.headers, delivery.chunks, WEBHOOK_MAX);
    expect(answer.status).toBe(200);
    expect(s.peak()).toBe(WEBHOOK_MAX);
  });

  it("declaring more than 25 MB is refused with 413 before a byte is read", async () => {
    const s = await start();
    const answer = await postStream(`${s.app.url}${WEBHOOKS_PATH}`, badlySigned, jsonBody(MB), WEBHOOK_MAX + 1);
    expect(answer.status).toBe(413);
    expect(s.peak()).toBe(0);
  });
});

describe("a body that trickles in", () => {
  it.each([
    ["with a Content-Length", WEBHOOK_MAX],
    ["chunked", undefined],
  ])("is cut off with 408 once the body time limit passes, %s, and its bytes are given back", async (_, length) => {
    const s = await start({ timeoutMs: 300 });
    const never = gate();
    const started = Date.now();
    const answer = await postStream(`${s.app.url}${WEBHOOKS_PATH}`, badlySigned, jsonBody(WEBHOOK_MAX, 1024, never.wait), length);
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toEqual({ message: "the body did not arrive within 0.3 s" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    await until(() => s.held() === 0, "the slow body's bytes given back");
    never.open();
  });

  it.each([
    ["with a Content-Length", WEBHOOK_MAX],
    ["chunked", undefined],
  ])("slower than the least pace is cut off with 408 within a window, %s, and its bytes are given back", async (_, length) => {
    // 16 KB a second at least, checked every 200 ms; the body sends 256 bytes every 50 ms, 5 KB/s at best.
    const s = await start({ minBytesPerSecond: 16 * 1024, rateWindowMs: 200 });
    const started = Date.now();
    const answer = await postStream(`${s.app.url}${WEBHOOKS_PATH}`, badlySigned, trickle(256, 400, 50), length);
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe("close");
    expect(JSON.parse(answer.body)).toEqual({ message: "the body arrived slower than 16 KB/s, the least the App takes" });
    expect(Date.now() - started).toBeLessThan(DEFAULT_BODY_LIMITS.timeoutMs);
    expect(s.held()).toBeLessThan(16 * 1024);
    await until(() => s.held() === 0, "the slow body's bytes given back");
  });
});

describe("the body budget", () => {
  it("takes bytes only while the App's and the client's room last, and gives back exactly what a body took", () => {
    const heard: number[] = [];
    const budget = new BodyBudget({ ...DEFAULT_BODY_LIMITS, totalBytes: 10, perClientBytes: 6, bodiesPerClient: 2 }, (bytes) => heard.push(bytes));
    const a = budget.open("a");
    const b = budget.open("b");
    if (typeof a === "string" || typeof b === "string") throw new Error(`refused: ${String(a)}, ${String(b)}`);
    expect(a.take(6)).toBeNull();
    expect(a.take(1)).toBe("client");
    expect(b.take(5)).toBe("total");
    expect(b.take(4)).toBeNull();
    a.close();
    a.close();
    expect(b.take(6)).toBe("client");
    expect(b.take(2)).toBeNull();
    expect(heard).toEqual([6, 10, 4, 6]);
  });

  it("counts a client's bodies while they arrive, not after", () => {
    const budget = new BodyBudget({ ...DEFAULT_BODY_LIMITS, bodiesPerClient: 1 });
    const first = budget.open("a");
    if (typeof first === "string") throw new Error(`refused: ${first}`);
    expect(budget.open("a")).toBe("bodies");
    expect(typeof budget.open("b")).toBe("object");
    first.arrived();
    expect(typeof budget.open("a")).toBe("object");
  });
});

describe("who a client is, for its limit", () => {
  it("is an IPv4 address, or an IPv6 /64 (one host commonly has all of it), however it is written", () => {
    expect(clientOf("::ffff:192.0.2.7")).toBe(clientOf("192.0.2.7"));
    expect(clientOf("192.0.2.7")).not.toBe(clientOf("192.0.2.8"));
    expect(clientOf("2001:db8:1:2:aaaa::1")).toBe(clientOf("2001:0db8:0001:0002:bbbb:cccc:dddd:2"));
    expect(clientOf("2001:db8:1:2::1")).toBe(clientOf("2001:DB8:1:2:ffff:ffff:ffff:ffff"));
    expect(clientOf("2001:db8:1:3::1")).not.toBe(clientOf("2001:db8:1:2::1"));
    expect(clientOf("2001:db8::1")).toBe(clientOf("2001:db8:0:0:1::"));
  });
});
