import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "@jest/globals";
import { sign } from "@octokit/webhooks-methods";
import { clientOf, DEFAULT_BODY_LIMITS } from "../../src/app/body-budget.js";
import { startApp, WEBHOOKS_PATH, type RunningApp, type StartOptions } from "../../src/app/server.js";
import { doubleAppSettings } from "../helpers/app-settings.js";
import { postStream, type Answer } from "../helpers/app-process.js";
import { startGitHubApiDouble, type GitHubApiDouble } from "../helpers/github-api-double.js";
import { freshStore } from "../helpers/stores.js";
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
  const github = await startGitHubApiDouble();
  const fresh = await freshStore("sqlite");
  let peak = 0;
  let held = 0;
  const app = await startApp(doubleAppSettings(github.url, { WEBHOOK_SECRET: SECRET }), {
    store: fresh.store,
    logLevel: "fatal",
    throttle: false,
    bodies: {
      ...bodies,
      onHeld: (bytes) => {
        held = bytes;
        peak = Math.max(peak, bytes);
      },
    },
  });
  open = async () => {
    await app.close();
    await fresh.dispose();
    await github.close();
  };
  return { app, github, peak: () => peak, held: () => held };
}

/** A gate a slow client waits at between chunks; open() lets every waiting one go on. */
function gate(): { wait: Promise<void>; open(): void } {
  let open = () => undefined as void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** `total` bytes of a JSON object: its first `first` bytes, then (once `go` resolves) the rest, a megabyte at a time. */
async function* jsonBody(total: number, first = MB, go: Promise<void> = Promise.resolve()): AsyncGenerator<Buffer> {
  const head = Buffer.from('{"zen":"Keep it logically awesome.","hook_id":1,"pad":"');
  const tail = Buffer.from('"}');
  const filler = Buffer.alloc(MB, 0x61);
  let pad = total - head.length - tail.length;
  const early = Math.min(pad, first - head.length);
  yield Buffer.concat([head, filler.subarray(0, early)]);
  pad -= early;
  await go;
  for (; pad > 0; pad -= MB) yield filler.subarray(0, Math.min(pad, MB));
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

const count = (answers: readonly Answer[], status: number) => answers.filter((a) => a.status === status).length;

describe("webhook bodies with a bad signature, many at once", () => {
  it("hold at most the App's budget: 40 bodies of 25 MB from 8 clients take 125 MB, the rest are refused before they are read", async () => {
    const s = await start();
    const go = gate();
    const url = `${s.app.url}${WEBHOOKS_PATH}`;
    const answers: Answer[] = [];
    // Each sends its first megabyte and waits: all 40 are in flight at once, as an attack's are.
    const sent = Array.from({ length: 40 }, (_, i) =>
      postStream(url, badlySigned, jsonBody(WEBHOOK_MAX, MB, go.wait), WEBHOOK_MAX, `127.0.0.${2 + (i % 8)}`).then((answer) => {
        answers.push(answer);
        return answer;
      }),
    );
    // 128 MB holds five 25 MB bodies, and 32 MB a client one: five clients get one in each;
    // their other four get 429, and the three clients left 503 for all five of theirs.
    await until(() => answers.length === 35, "35 bodies refused before they were read", 30_000);
    expect({ 429: count(answers, 429), 503: count(answers, 503) }).toEqual({ 429: 20, 503: 15 });
    expect(s.held()).toBe(5 * WEBHOOK_MAX);
    for (const refused of answers) {
      expect(refused.headers["retry-after"]).toBe(String(DEFAULT_BODY_LIMITS.timeoutMs / 1000));
      expect(refused.headers.connection).toBe("close");
    }
    go.open();
    const all = await Promise.all(sent);
    expect(count(all, 401)).toBe(5);
    expect(s.peak()).toBe(5 * WEBHOOK_MAX);
    expect(s.peak()).toBeLessThanOrEqual(DEFAULT_BODY_LIMITS.totalBytes);
    await until(() => s.held() === 0, "every body's bytes given back");
  });

  it("do not keep out a signed delivery from another client: per-client limits leave it room", async () => {
    const s = await start();
    const go = gate();
    const url = `${s.app.url}${WEBHOOKS_PATH}`;
    // Four clients hold 100 MB of the 128, each as much as it may; more from them gets 429.
    const flood = Array.from({ length: 12 }, (_, i) => postStream(url, badlySigned, jsonBody(WEBHOOK_MAX, MB, go.wait), WEBHOOK_MAX, `127.0.0.${2 + (i % 4)}`));
    await until(() => s.held() === 4 * WEBHOOK_MAX, "the flood holding 100 MB");
    const delivery = await signed(20 * MB);
    const answer = await postStream(url, delivery.headers, delivery.chunks, 20 * MB, "127.0.0.9");
    expect(answer.status).toBe(200);
    go.open();
    const refused = await Promise.all(flood);
    expect({ 401: count(refused, 401), 429: count(refused, 429) }).toEqual({ 401: 4, 429: 8 });
    expect(s.peak()).toBe(4 * WEBHOOK_MAX + 20 * MB);
  });

  it("a signed 20 MB delivery alone passes, and gives its bytes back once answered", async () => {
    const s = await start();
    const delivery = await signed(20 * MB);
    const answer = await postStream(`${s.app.url}${WEBHOOKS_PATH}`, delivery.headers, delivery.chunks, 20 * MB);
    expect(answer.status).toBe(200);
    expect(s.peak()).toBe(20 * MB);
    await until(() => s.held() === 0, "the delivery's bytes given back");
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
