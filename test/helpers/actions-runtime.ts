import { homedir } from "node:os";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, StorageSharedKeyCredential } from "@azure/storage-blob";

const require = createRequire(import.meta.url);

// Azurite's documented development account.
const ACCOUNT = "devstoreaccount1";
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const SERVICE = "/twirp/github.actions.results.api.v1.ArtifactService/";

function body(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    request.on("data", (c: Buffer) => (text += c.toString()));
    request.on("end", () => resolve(text));
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** Azurite's blob service in a child process: the real Azure Blob protocol @actions/artifact uploads with. */
export async function startAzurite(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const azurite = require.resolve("azurite/package.json");
  const bin = join(dirname(azurite), (JSON.parse(readFileSync(azurite, "utf8")) as { bin: Record<string, string> }).bin["azurite-blob"]!);
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", dir, "--silent", "--loose", "--skipApiVersionCheck"],
    { stdio: "ignore" },
  );
  const url = `http://127.0.0.1:${port}/${ACCOUNT}`;
  let up = false;
  for (let i = 0; i < 150 && !up; i++) {
    up = await fetch(`${url}?comp=list`).then(
      () => true,
      () => false,
    );
    if (!up) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!up) throw new Error(`azurite-blob did not answer on ${url}`);
  return {
    url,
    stop: async () => {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    },
  };
}

export interface ResultsServiceDouble {
  url: string;
  runtimeToken: string;
  artifacts: { id: number; name: string; size: number; expiresAt?: string; blob: string }[];
  download(name: string): Promise<Buffer>;
  /** A signed URL that reads an artifact's zip, as GitHub's download redirect gives one. */
  readUrl(name: string): string;
  close(): Promise<void>;
}

/**
 * The Actions results service as @actions/artifact speaks to it (Twirp over JSON): it
 * checks the backend ids against the runtime token, hands out a SAS URL in Azurite, and
 * on finalize checks the size against the blob that actually landed.
 */
export async function startResultsService(blobUrl: string): Promise<ResultsServiceDouble> {
  const runId = randomBytes(8).toString("hex");
  const jobRunId = randomBytes(8).toString("hex");
  const runtimeToken = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ scp: `Actions.GenericRead Actions.Results:${runId}:${jobRunId}` })}.`;
  const credential = new StorageSharedKeyCredential(ACCOUNT, KEY);
  const service = new BlobServiceClient(blobUrl, credential);
  const container = service.getContainerClient("artifacts");
  await container.createIfNotExists();
  const artifacts: ResultsServiceDouble["artifacts"] = [];
  const pending = new Map<string, { blob: string; expiresAt?: string }>();

  const server = createServer(async (request, response) => {
    const reply = (status: number, value: object) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(value));
    };
    if (request.headers.authorization !== `Bearer ${runtimeToken}`) return reply(401, { code: "unauthenticated", msg: "bad runtime token" });
    const method = request.url?.startsWith(SERVICE) ? request.url.slice(SERVICE.length) : "";
    // Twirp's JSON carries the proto field names (snake_case); camelCase is accepted too.
    const raw = JSON.parse((await body(request)) || "{}") as Record<string, unknown>;
    const payload = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), v]));
    if (payload.workflowRunBackendId !== runId || payload.workflowJobRunBackendId !== jobRunId)
      return reply(400, { code: "invalid_argument", msg: "backend ids do not match the token" });
    if (method === "CreateArtifact") {
      const name = String(payload.name);
      const blob = `${runId}/${name}.zip`;
      const sas = generateBlobSASQueryParameters(
        { containerName: "artifacts", blobName: blob, permissions: BlobSASPermissions.parse("cw"), expiresOn: new Date(Date.now() + 3_600_000) },
        credential,
      ).toString();
      pending.set(name, { blob, ...(typeof payload.expiresAt === "string" ? { expiresAt: payload.expiresAt } : {}) });
      return reply(200, { ok: true, signed_upload_url: `${container.getBlockBlobClient(blob).url}?${sas}` });
    }
    if (method === "FinalizeArtifact") {
      const name = String(payload.name);
      const created = pending.get(name);
      if (!created) return reply(404, { code: "not_found", msg: "no such artifact" });
      const properties = await container.getBlockBlobClient(created.blob).getProperties();
      if (String(properties.contentLength) !== String(payload.size))
        return reply(400, { code: "invalid_argument", msg: "size does not match the uploaded blob" });
      const id = artifacts.length + 1;
      artifacts.push({ id, name, size: Number(payload.size), blob: created.blob, ...(created.expiresAt ? { expiresAt: created.expiresAt } : {}) });
      return reply(200, { ok: true, artifact_id: String(id) });
    }
    return reply(404, { code: "bad_route", msg: `no method ${method}` });
  });
  const url = await listen(server);
  return {
    url,
    runtimeToken,
    artifacts,
    download: async (name) => container.getBlockBlobClient(artifacts.find((a) => a.name === name)!.blob).downloadToBuffer(),
    readUrl: (name) => {
      const blob = artifacts.find((a) => a.name === name)!.blob;
      const sas = generateBlobSASQueryParameters(
        { containerName: "artifacts", blobName: blob, permissions: BlobSASPermissions.parse("r"), expiresOn: new Date(Date.now() + 3_600_000) },
        credential,
      ).toString();
      return `${container.getBlockBlobClient(blob).url}?${sas}`;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The runner's OIDC token endpoint: hands a token to whoever presents the request token. */
export async function startTokenEndpoint(): Promise<{ url: string; requestToken: string; issued: string[]; audiences: string[]; close: () => Promise<void> }> {
  const requestToken = randomBytes(12).toString("hex");
  const issued: string[] = [];
  const audiences: string[] = [];
  const server = createServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${requestToken}`) {
      response.writeHead(401).end();
      return;
    }
    const audience = new URL(request.url ?? "/", "http://x").searchParams.get("audience") ?? "";
    audiences.push(audience);
    const token = `${b64url({ alg: "RS256", typ: "JWT" })}.${b64url({ aud: audience, repository: "o/r", run_id: "42" })}.${randomBytes(16).toString("base64url")}`;
    issued.push(token);
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value: token }));
  });
  const base = await listen(server);
  return { url: `${base}/token?api-version=2.0`, requestToken, issued, audiences, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** The App's report endpoint: records each event and the token it came with. */
export async function startAppDouble(
  status = 200,
): Promise<{ url: string; events: { path: string; authorization: string; body: Record<string, unknown> }[]; close: () => Promise<void> }> {
  const events: { path: string; authorization: string; body: Record<string, unknown> }[] = [];
  const server = createServer(async (request, response) => {
    events.push({
      path: request.url ?? "",
      authorization: String(request.headers.authorization ?? ""),
      body: JSON.parse((await body(request)) || "{}") as Record<string, unknown>,
    });
    response.writeHead(status, { "content-type": "application/json" }).end("{}");
  });
  const url = await listen(server);
  return { url, events, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export interface RunnerEnvOptions {
  /** Where the runner's files for this step go: RUNNER_TEMP, GITHUB_OUTPUT, the summary, the state. */
  dir: string;
  workspace: string;
  /** The step's `with:`, as INPUT_<NAME>. */
  inputs: Record<string, string>;
  repository?: string;
  runId?: string;
  sha?: string;
  /** The workflow's event payload (GITHUB_EVENT_PATH). */
  event?: unknown;
  extra?: Record<string, string>;
}

/** The environment and files the Actions runner gives a JavaScript action step. */
export async function actionsRunnerEnv(options: RunnerEnvOptions): Promise<Record<string, string>> {
  const { dir } = options;
  await mkdir(join(dir, "temp"), { recursive: true });
  for (const file of ["output", "summary", "state"]) await writeFile(join(dir, file), "");
  await writeFile(join(dir, "event.json"), JSON.stringify(options.event ?? {}));
  const env: Record<string, string> = {
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? homedir(),
    GITHUB_ACTIONS: "true",
    CI: "true",
    GITHUB_WORKSPACE: options.workspace,
    GITHUB_OUTPUT: join(dir, "output"),
    GITHUB_STEP_SUMMARY: join(dir, "summary"),
    GITHUB_STATE: join(dir, "state"),
    GITHUB_EVENT_PATH: join(dir, "event.json"),
    GITHUB_EVENT_NAME: "workflow_dispatch",
    GITHUB_REPOSITORY: options.repository ?? "o/r",
    GITHUB_RUN_ID: options.runId ?? "42",
    GITHUB_RUN_ATTEMPT: "1",
    GITHUB_SHA: options.sha ?? "0123456789abcdef0123456789abcdef01234567",
    GITHUB_SERVER_URL: "https://github.com",
    RUNNER_TEMP: join(dir, "temp"),
    ...options.extra,
  };
  for (const [name, value] of Object.entries(options.inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  return env;
}
