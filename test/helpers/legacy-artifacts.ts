import archiver from "archiver";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import type { RunArtifact } from "./github-double/artifacts.js";

/**
 * GitHub Enterprise Server's artifact service, the one upload-artifact@v3 and
 * @actions/artifact 1.x speak to under ACTIONS_RUNTIME_URL: create a file container for the
 * run, PUT each file in Content-Range chunks (gzip-encoded when that is smaller, with the
 * uncompressed length in x-tfs-filelength and the chunk's MD5), then PATCH the artifact's
 * size to finish it. It refuses what the service would: a wrong token or run, a chunk whose
 * digest or range does not match, an item outside the artifact, a size that is not what
 * arrived. Its artifacts are listed in the GitHub API double only once the run has ended
 * (`endRun`), as GHES lists them, their zips served here.
 */
export interface LegacyArtifactService {
  /** ACTIONS_RUNTIME_URL (with its trailing slash). */
  url: string;
  runtimeToken: string;
  /** Finished artifacts: each file by its path inside the artifact. */
  artifacts: Map<string, Map<string, Buffer>>;
  /** What the service refused, and why: a test fails on any it did not expect. */
  refused: string[];
  /** The run has ended: its artifacts are listed from now on. */
  endRun(): void;
  close(): Promise<void>;
}

const API_VERSION = "6.0-preview";

function readAll(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

async function zipOf(files: Map<string, Buffer>): Promise<Buffer> {
  const zip = archiver("zip");
  const chunks: Buffer[] = [];
  zip.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    zip.on("end", () => resolve());
    zip.on("error", reject);
  });
  for (const [path, data] of files) zip.append(data, { name: path });
  await zip.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export async function startLegacyArtifactService(options: {
  runId: string;
  repo: string;
  /** Where the run's artifacts are listed for the REST API once it has ended (the GitHub API double's state). */
  listed?: RunArtifact[];
}): Promise<LegacyArtifactService> {
  const runtimeToken = randomBytes(16).toString("hex");
  const containers = new Map<
    number,
    { name: string; items: Map<string, { total: number; data: Buffer; received: number; gzip: boolean; length: number | null }> }
  >();
  const artifacts = new Map<string, Map<string, Buffer>>();
  const zips = new Map<number, Buffer>();
  const refused: string[] = [];
  const finished: RunArtifact[] = [];
  let base = "";

  const server = createServer(async (request, response) => {
    const reply = (status: number, value: unknown) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(value));
    };
    const refuse = (status: number, why: string) => {
      refused.push(`${request.method} ${request.url}: ${why}`);
      reply(status, { message: why });
    };
    const url = new URL(request.url ?? "/", "http://x");
    const body = await readAll(request);
    const zip = /^\/zips\/(\d+)\.zip$/.exec(url.pathname);
    if (request.method === "GET" && zip) {
      const data = zips.get(Number(zip[1]));
      if (!data) return reply(404, { message: "no such zip" });
      response.writeHead(200, { "content-type": "application/zip", "content-length": data.length });
      return response.end(data);
    }
    if (request.headers.authorization !== `Bearer ${runtimeToken}`) return refuse(401, "bad runtime token");
    const workflow = /^\/_apis\/pipelines\/workflows\/([^/]+)\/artifacts$/.exec(url.pathname);
    if (workflow) {
      if (workflow[1] !== options.runId) return refuse(404, `run ${workflow[1]} is not this job's run`);
      if (url.searchParams.get("api-version") !== API_VERSION) return refuse(400, "unsupported api-version");
      if (request.method === "POST") {
        const parameters = JSON.parse(body.toString()) as { Type?: string; Name?: string; RetentionDays?: number };
        if (parameters.Type !== "actions_storage" || !parameters.Name) return refuse(400, "a container needs Type actions_storage and a Name");
        if ([...containers.values()].some((c) => c.name === parameters.Name) || artifacts.has(parameters.Name))
          return refuse(409, `an artifact named ${parameters.Name} exists in this run`);
        const id = containers.size + 1;
        containers.set(id, { name: parameters.Name, items: new Map() });
        return reply(201, {
          containerId: id,
          size: -1,
          signedContent: null,
          fileContainerResourceUrl: `${base}_apis/resources/Containers/${id}`,
          type: "actions_storage",
          name: parameters.Name,
          url: `${base}_apis/pipelines/1/runs/${options.runId}/artifacts?artifactName=${encodeURIComponent(parameters.Name)}`,
        });
      }
      if (request.method === "PATCH") {
        const name = url.searchParams.get("artifactName");
        const entry = [...containers.entries()].find(([, c]) => c.name === name);
        if (!entry) return refuse(404, `no artifact ${name}`);
        const [id, container] = entry;
        const files = new Map<string, Buffer>();
        for (const [path, item] of container.items) {
          if (item.received !== item.total) return refuse(400, `${path} is incomplete`);
          const data = item.gzip ? gunzipSync(item.data) : item.data;
          if (item.length !== null && data.length !== item.length) return refuse(400, `${path} is ${data.length} bytes, not x-tfs-filelength ${item.length}`);
          files.set(path.slice(container.name.length + 1), data);
        }
        const size = (JSON.parse(body.toString()) as { Size?: number }).Size;
        const raw = [...files.values()].reduce((sum, f) => sum + f.length, 0);
        if (size !== raw) return refuse(400, `Size ${size} is not the ${raw} bytes uploaded`);
        artifacts.set(container.name, files);
        const data = await zipOf(files);
        zips.set(id, data);
        finished.push({
          id: 1000 + id,
          repo: options.repo,
          runId: Number(options.runId),
          name: container.name,
          size: data.length,
          zipUrl: `${base}zips/${id}.zip`,
        });
        return reply(200, { containerId: id, size, name: container.name });
      }
    }
    const resource = /^\/_apis\/resources\/Containers\/(\d+)$/.exec(url.pathname);
    if (resource && request.method === "PUT") {
      const container = containers.get(Number(resource[1]));
      if (!container) return refuse(404, "no such container");
      const itemPath = url.searchParams.get("itemPath") ?? "";
      if (!itemPath.startsWith(`${container.name}/`) || itemPath.split("/").includes(".."))
        return refuse(400, `item ${itemPath} is outside artifact ${container.name}`);
      // An empty file is sent as the range 0 to -1 of 0 bytes.
      const range = /^bytes (\d+)-(-1|\d+)\/(\d+)$/.exec(String(request.headers["content-range"] ?? ""));
      if (!range) return refuse(400, "no Content-Range");
      const [start, end, total] = range.slice(1).map(Number) as [number, number, number];
      if (end - start + 1 !== body.length || (total > 0 && end >= total))
        return refuse(400, `Content-Range ${range[0]} does not match the ${body.length} bytes sent`);
      if (request.headers["x-actions-results-md5"] !== createHash("md5").update(body).digest("base64")) return refuse(400, "the chunk's MD5 does not match");
      const gzip = request.headers["content-encoding"] === "gzip";
      const length = request.headers["x-tfs-filelength"] === undefined ? null : Number(request.headers["x-tfs-filelength"]);
      const item = container.items.get(itemPath) ?? { total, data: Buffer.alloc(total), received: 0, gzip, length };
      body.copy(item.data, start);
      item.received += body.length;
      container.items.set(itemPath, item);
      return reply(201, { path: itemPath, fileLength: total });
    }
    return refuse(404, `the service has no ${request.method} ${url.pathname}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: base,
    runtimeToken,
    artifacts,
    refused,
    endRun: () => options.listed?.push(...finished.splice(0)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
