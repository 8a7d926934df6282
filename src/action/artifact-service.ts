import { DefaultArtifactClient } from "@actions/artifact";
import * as legacyArtifacts from "@actions/artifact-legacy";
import { getOctokit } from "@actions/github";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { Readable } from "node:stream";
import unzip from "unzip-stream";

export interface Uploaded {
  /** GitHub's id for it; GHES's artifact service gives none until the run has ended. */
  id: number | null;
  url: string;
}

/** Where this run's artifacts go, and where another run's come from. */
export interface ArtifactService {
  /** Which service it is, for the log. */
  readonly kind: "github.com" | "enterprise server";
  upload(name: string, files: string[], root: string, retentionDays: number | null): Promise<Uploaded>;
  /** Artifact `name` of workflow run `runId` of this repository, unpacked into `into`, read with `token`. */
  download(name: string, runId: number, into: string, token: string): Promise<void>;
}

/**
 * GitHub Enterprise Server, as @actions/artifact tells it: any server but github.com and
 * GHE.com's (and a *.localhost one). GHES keeps the artifact service of upload-artifact@v3
 * (@actions/artifact 1.x); the current one refuses to run there.
 */
export function onEnterpriseServer(serverUrl = process.env.GITHUB_SERVER_URL ?? "https://github.com"): boolean {
  const host = new URL(serverUrl).hostname.toLowerCase();
  return host !== "github.com" && !host.endsWith(".ghe.com") && !host.endsWith(".localhost");
}

/** Every artifact the action uploads or downloads goes through the service of the server it runs on. */
export function artifactService(): ArtifactService {
  return onEnterpriseServer() ? enterpriseServerArtifacts() : githubArtifacts();
}

function runPage(): string {
  const server = process.env.GITHUB_SERVER_URL ?? "https://github.com";
  return `${server}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}`;
}

function repository(): { owner: string; repo: string } {
  const [owner, repo] = (process.env.GITHUB_REPOSITORY ?? "").split("/");
  if (!owner || !repo) throw new Error("GITHUB_REPOSITORY is not set: no repository to download the artifact from");
  return { owner, repo };
}

function githubArtifacts(): ArtifactService {
  const client = new DefaultArtifactClient();
  return {
    kind: "github.com",
    async upload(name, files, root, retentionDays) {
      const { id } = await client.uploadArtifact(name, files, root, retentionDays ? { retentionDays } : {});
      if (id === undefined) throw new Error("the artifact service returned no id");
      return { id, url: `${runPage()}/artifacts/${id}` };
    },
    async download(name, runId, into, token) {
      const findBy = { token, workflowRunId: runId, repositoryOwner: repository().owner, repositoryName: repository().repo };
      const { artifact } = await client.getArtifact(name, { findBy });
      await client.downloadArtifact(artifact.id, { path: into, findBy });
    },
  };
}

function enterpriseServerArtifacts(): ArtifactService {
  return {
    kind: "enterprise server",
    async upload(name, files, root, retentionDays) {
      const answer = await legacyArtifacts
        .create()
        .uploadArtifact(name, files, root, { continueOnError: false, ...(retentionDays ? { retentionDays } : {}) });
      if (answer.failedItems.length > 0) throw new Error(`${answer.failedItems.length} file(s) did not upload, ${answer.failedItems[0]} first`);
      // The run's page lists its artifacts; GHES gives an artifact no id or address of its own before the run ends.
      return { id: null, url: runPage() };
    },
    async download(name, runId, into, token) {
      const { owner, repo } = repository();
      const octokit = getOctokit(token, { baseUrl: process.env.GITHUB_API_URL });
      const { data } = await octokit.rest.actions.listWorkflowRunArtifacts({ owner, repo, run_id: runId, name });
      const artifact = data.artifacts.find((a) => a.name === name);
      if (!artifact) throw new Error(`run ${runId} has no artifact ${name}`);
      const zip = await octokit.rest.actions.downloadArtifact({ owner, repo, artifact_id: artifact.id, archive_format: "zip" });
      await unpack(Buffer.from(zip.data as ArrayBuffer), into);
    },
  };
}

/** A zip's entries written under `into`; an entry whose path leads outside it fails the whole download. */
async function unpack(zip: Buffer, into: string): Promise<void> {
  const root = resolve(into);
  const reading: Promise<{ path: string; data: Buffer }>[] = [];
  await new Promise<void>((done, fail) => {
    const parser = unzip.Parse();
    parser.on("entry", (entry: unzip.Entry) => {
      if (entry.isDirectory) return entry.autodrain();
      const chunks: Buffer[] = [];
      entry.on("data", (chunk: Buffer) => chunks.push(chunk));
      reading.push(
        new Promise((read, broken) => {
          entry.on("end", () => read({ path: entry.path, data: Buffer.concat(chunks) }));
          entry.on("error", broken);
        }),
      );
    });
    parser.on("error", fail);
    parser.on("close", done);
    Readable.from([zip]).pipe(parser);
  });
  const entries = await Promise.all(reading);
  for (const entry of entries) {
    const target = resolve(root, entry.path);
    const inside = relative(root, target);
    if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) throw new Error(`the artifact's entry ${JSON.stringify(entry.path)} leads outside its folder`);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, entry.data);
  }
}
