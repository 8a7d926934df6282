import { homedir } from "node:os";
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sign } from "@octokit/webhooks-methods";
import { startGitHubApiDouble, type GitHubApiDouble } from "./github-api-double.js";
import { startOidcIssuer, type OidcIssuer } from "./oidc-issuer.js";
import { PROJECT_ROOT_URL } from "./project-root.js";
import { until } from "./until.js";

const CLI = fileURLToPath(new URL("bin/kto.js", PROJECT_ROOT_URL));

/** Where the App says it is public; its reports' OIDC audience. */
export const PUBLIC_URL = "https://kto.example.com";

export interface AppProcess {
  url: string;
  pid: number;
  dataDir: string;
  github: GitHubApiDouble;
  issuer: OidcIssuer;
  webhookSecret: string;
  /** POSTs a webhook signed as GitHub signs it; the status. */
  deliver(event: string, payload: unknown): Promise<number>;
  /** Whether the App's stdout and stderr so far hold `text` (read in pieces: a log can be large). */
  logContains(text: string): Promise<boolean>;
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** The settings of a `kto app` process against the GitHub API double and an OIDC issuer, as an operator sets them; `env` adds or overrides. */
export function appProcessEnv(
  to: {
    github: GitHubApiDouble;
    issuer: OidcIssuer;
    webhookSecret: string;
    privateKey: string;
    dataDir: string;
    publicUrl: string;
    port: number;
    /** Which of the double's APIs the App talks to: GHES's /api/v3 (the default), or github.com's. */
    server?: "ghes" | "github.com";
  },
  env: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? homedir(),
    APP_ID: "1",
    PRIVATE_KEY: to.privateKey,
    WEBHOOK_SECRET: to.webhookSecret,
    PORT: String(to.port),
    HOST: "127.0.0.1",
    ...(to.server === "github.com" ? { KTO_GITHUB_API_URL: to.github.url } : { GHE_HOST: new URL(to.github.url).host }),
    GHE_PROTOCOL: "http",
    KTO_PUBLIC_URL: to.publicUrl,
    KTO_DATA_DIR: to.dataDir,
    KTO_OIDC_ISSUER: to.issuer.url,
    KTO_OIDC_JWKS_URL: to.issuer.jwksUrl,
    KTO_RUNNER_SYNC_SECONDS: "1",
    KTO_GITHUB_THROTTLE: "off",
    ...env,
  };
}

/** `kto app` in a process of its own, in `cwd`, draining up to `drainSeconds` when stopped, its output appended to `logFile`. */
export function spawnApp(
  cwd: string,
  env: Record<string, string>,
  drainSeconds: number,
  logFile: string,
): { child: ChildProcess; exited: Promise<number | null> } {
  const out = createWriteStream(logFile, { flags: "a" });
  const child = spawn(process.execPath, [CLI, "app", "--drain", String(drainSeconds)], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  // After its output is read to the end, not at its exit, which may come first.
  child.once("close", () => out.end());
  return { child, exited: new Promise((resolve) => child.once("exit", resolve)) };
}

/**
 * `kto app` as an operator runs it, in its own process on a loopback port, against the
 * GitHub API double and an OIDC issuer; `env` adds or overrides the App's settings.
 */
export async function startAppProcess(dir: string, env: Record<string, string> = {}): Promise<AppProcess> {
  await mkdir(dir, { recursive: true });
  const github = await startGitHubApiDouble();
  const issuer = await startOidcIssuer();
  const webhookSecret = randomBytes(12).toString("hex");
  const dataDir = join(dir, "app-data");
  const logFile = join(dir, "app.log");
  const privateKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const { child, exited } = spawnApp(
    dir,
    appProcessEnv({ github, issuer, webhookSecret, privateKey, dataDir, publicUrl: PUBLIC_URL, port: 0 }, env),
    0,
    logFile,
  );
  const log = () => readFile(logFile, "utf8");
  const listening = await Promise.race([
    until(async () => /kto app: listening on (http:\/\/\S+)/.exec(await log().catch(() => ""))?.[1], "the App to listen", 30_000),
    exited.then(async (code) => {
      throw new Error(`kto app exited (${code}) before it listened:\n${await log()}`);
    }),
  ]);
  return {
    url: listening,
    pid: child.pid!,
    dataDir,
    github,
    issuer,
    webhookSecret,
    deliver: async (event, payload) => {
      const body = JSON.stringify(payload);
      const response = await fetch(`${listening}/api/github/webhooks`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": event,
          "x-github-delivery": randomBytes(8).toString("hex"),
          "x-hub-signature-256": await sign(webhookSecret, body),
        },
        body,
      });
      return response.status;
    },
    logContains: (text) => fileContains(logFile, text),
    log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await issuer.close();
      await github.close();
    },
  };
}

async function fileContains(path: string, text: string): Promise<boolean> {
  let carry = "";
  for await (const chunk of createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 })) {
    const window = carry + (chunk as string);
    if (window.includes(text)) return true;
    carry = window.slice(-text.length);
  }
  return false;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * POSTs `chunks` one after another (a body far larger than memory needs only one chunk
 * held), with a Content-Length when `contentLength` is given and chunked otherwise; an
 * async `chunks` may pause between them, as a slow client does. `from` is the local
 * address to send from (any of 127.0.0.0/8 stands for another client). Stops sending as
 * soon as the server answers, as a client does when refused.
 */
export function postStream(
  url: string,
  headers: Record<string, string>,
  chunks: Iterable<Buffer> | AsyncIterable<Buffer>,
  contentLength?: number,
  from?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = httpRequest(
      url,
      {
        method: "POST",
        agent: false,
        ...(from ? { localAddress: from } : {}),
        headers: { ...headers, ...(contentLength === undefined ? {} : { "content-length": String(contentLength) }) },
      },
      (response) => {
        answered = true;
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (text: string) => (body += text));
        response.on("end", () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
          // Answered, a client refused mid-upload hangs up rather than leave the server waiting for the rest.
          if (!request.writableFinished) request.destroy();
        });
        response.on("error", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    // The server may close the connection on a refused upload: that ends the upload, not the answer.
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    void (async () => {
      for await (const chunk of chunks) {
        if (answered || request.destroyed) return;
        if (!request.write(chunk))
          await new Promise<void>((resume) => {
            const go = () => {
              request.off("drain", go).off("close", go);
              resume();
            };
            request.once("drain", go).once("close", go);
          });
      }
      if (!answered && !request.destroyed) request.end();
    })();
  });
}
