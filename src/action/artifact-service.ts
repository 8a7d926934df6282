import { DefaultArtifactClient } from "@actions/artifact";
import * as legacyArtifacts from "@actions/artifact-legacy";
import { getOctokit } from "@actions/github";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import unzip from "unzip-stream";

export interface Uploaded {
  /** GitHub's id for it; GHES's artifact service gives none until the run has ended. */
  id: number | null;
  url: string;
}

/** Where this run's artifacts go, and where another run's come from. */
export interface ArtifactService {
  upload(name: string, files: string[], root: string, retentionDays: number | null): Promise<Uploaded>;
  /**
   * Artifact `name` of workflow run `runId` of this repository, unpacked into `into`, read
   * with `token`: the files `expected` names (path → most bytes), and nothing else.
   */
  download(name: string, runId: number, into: string, token: string, expected: ReadonlyMap<string, number>): Promise<void>;
}

/**
 * GitHub Enterprise Server, as @actions/artifact tells it: any server but github.com and
 * GHE.com's (and a *.localhost one). GHES keeps the artifact service of upload-artifact@v3
 * (@actions/artifact 1.x); the current one refuses to run there.
 */
export function onEnterpriseServer(serverUrl = process.env.GITHUB_SERVER_URL || "https://github.com"): boolean {
  const host = new URL(serverUrl).hostname.toLowerCase();
  return host !== "github.com" && !host.endsWith(".ghe.com") && !host.endsWith(".localhost");
}

/** Every artifact the action uploads or downloads goes through the service of the server it runs on. */
export function artifactService(): ArtifactService {
  return onEnterpriseServer() ? enterpriseServerArtifacts() : githubArtifacts();
}

/** This workflow run's page. */
export function runPage(): string {
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
    async upload(name, files, root, retentionDays) {
      const { id } = await client.uploadArtifact(name, files, root, retentionDays ? { retentionDays } : {});
      if (id === undefined) throw new Error("the artifact service returned no id");
      return { id, url: `${runPage()}/artifacts/${id}` };
    },
    // GitHub's client streams what it unpacks; the digests are checked after, against the handoff.
    async download(name, runId, into, token) {
      const findBy = { token, workflowRunId: runId, repositoryOwner: repository().owner, repositoryName: repository().repo };
      const { artifact } = await client.getArtifact(name, { findBy });
      await client.downloadArtifact(artifact.id, { path: into, findBy });
    },
  };
}

function enterpriseServerArtifacts(): ArtifactService {
  return {
    async upload(name, files, root, retentionDays) {
      const answer = await legacyArtifacts.create().uploadArtifact(name, files, root, { continueOnError: false, ...(retentionDays ? { retentionDays } : {}) });
      if (answer.failedItems.length > 0) throw new Error(`${answer.failedItems.length} file(s) did not upload, ${answer.failedItems[0]} first`);
      // The run's page lists its artifacts; GHES gives an artifact no id or address of its own before the run ends.
      return { id: null, url: runPage() };
    },
    async download(name, runId, into, token, expected) {
      const { owner, repo } = repository();
      const octokit = getOctokit(token, { baseUrl: process.env.GITHUB_API_URL });
      const artifactId = await listedOnceEnded(octokit, owner, repo, runId, name);
      const answer = await octokit.rest.actions.downloadArtifact({
        owner,
        repo,
        artifact_id: artifactId,
        archive_format: "zip",
        request: { redirect: "manual" },
      });
      const location = answer.headers.location;
      if (!location) throw new Error(`GHES gave no address for artifact ${name} of run ${runId}`);
      // The signed address needs no token, and must not be sent one.
      const zip = await fetch(location);
      if (!zip.ok || !zip.body) throw new Error(`downloading artifact ${name} of run ${runId} answered ${zip.status}`);
      await unpack(Readable.fromWeb(zip.body as import("node:stream/web").ReadableStream), into, expected);
    },
  };
}

/** How long apart kto looks for a run's end and its artifact on GHES (KTO_ARTIFACT_POLL_MS). */
const pollMs = () => Number(process.env.KTO_ARTIFACT_POLL_MS ?? 5_000);
/** How long a job waits for the run that made its build to end before its host gives up (and the job is retried). */
const RUN_END_WAIT_MS = 10 * 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The id of artifact `name` of run `runId`, once GHES lists it: its artifact service lists
 * a run's artifacts only once the run has ended, which the job that made a build reports
 * a little before (its post steps still run), and once the run has ended a moment later still.
 */
async function listedOnceEnded(octokit: ReturnType<typeof getOctokit>, owner: string, repo: string, runId: number, name: string): Promise<number> {
  const deadline = Date.now() + RUN_END_WAIT_MS;
  for (;;) {
    const { data: run } = await octokit.rest.actions.getWorkflowRun({ owner, repo, run_id: runId });
    if (run.status === "completed") break;
    if (Date.now() > deadline)
      throw new Error(`run ${runId} has not ended in ${RUN_END_WAIT_MS / 60_000} minutes, and GHES lists its artifacts only once it has`);
    await sleep(pollMs());
  }
  for (let tries = 1; ; tries++) {
    const { data } = await octokit.rest.actions.listWorkflowRunArtifacts({ owner, repo, run_id: runId, name });
    const artifact = data.artifacts.find((a) => a.name === name);
    if (artifact?.expired) throw new Error(`artifact ${name} of run ${runId} has expired`);
    if (artifact) return artifact.id;
    if (tries === 4) throw new Error(`run ${runId} has no artifact ${name}`);
    await sleep(pollMs());
  }
}

/** A byte count that fails the stream past `limit`: an entry larger than it says it is. */
function atMost(limit: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > limit ? new Error(`${what} is larger than the ${limit} bytes expected`) : null, chunk);
    },
  });
}

/**
 * A zip's entries streamed to files under `into`: only the paths `expected` names, each at
 * most its size, each once, none leading outside the folder. Nothing is held whole in
 * memory, so a large vmlinux (or a zip bomb) costs what the files were said to be.
 */
async function unpack(zip: Readable, into: string, expected: ReadonlyMap<string, number>): Promise<void> {
  const root = resolve(into);
  const total = [...expected.values()].reduce((sum, size) => sum + size, 0);
  const writing: Promise<void>[] = [];
  const seen = new Set<string>();
  const parser = unzip.Parse();
  parser.on("entry", (entry: unzip.Entry) => {
    if (entry.isDirectory) return entry.autodrain();
    const target = resolve(root, entry.path);
    const inside = relative(root, target);
    const limit = expected.get(entry.path);
    const refuse = (why: string) => parser.destroy(new Error(`the artifact's entry ${JSON.stringify(entry.path)} ${why}`));
    if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) return refuse("leads outside its folder");
    if (limit === undefined) return refuse("is not one of the build's outputs");
    if (seen.has(entry.path)) return refuse("is in it twice");
    seen.add(entry.path);
    writing.push(
      mkdir(dirname(target), { recursive: true }).then(() => pipeline(entry, atMost(limit, entry.path), createWriteStream(target, { flags: "wx" }))),
    );
  });
  await pipeline(zip, atMost(total + 1024 * 1024, "the artifact"), parser);
  await Promise.all(writing);
}
