import type { CheckedRequest } from "./shape.js";

/** A workflow run's artifact, as GitHub lists it; its zip is wherever `zipUrl` points (a blob store's signed URL). */
export interface RunArtifact {
  id: number;
  repo: string;
  runId: number;
  name: string;
  size: number;
  zipUrl: string;
}

/** A workflow run's state, as far as a run waiting for its artifacts sees it. */
export type RunStatus = "queued" | "in_progress" | "completed";

type ArtifactHandler = (
  request: CheckedRequest,
  state: { artifacts: RunArtifact[]; runs: Map<number, RunStatus> },
) => { status: number; body: unknown; headers?: Record<string, string> };

function listed(artifact: RunArtifact) {
  const api = `https://api.github.com/repos/${artifact.repo}/actions/artifacts/${artifact.id}`;
  return {
    id: artifact.id,
    node_id: `MDg6QXJ0aWZhY3Q${artifact.id}`,
    name: artifact.name,
    size_in_bytes: artifact.size,
    url: api,
    archive_download_url: `${api}/zip`,
    expired: false,
    created_at: new Date(0).toISOString(),
    expires_at: new Date(90 * 86_400_000).toISOString(),
    updated_at: new Date(0).toISOString(),
    workflow_run: { id: artifact.runId, repository_id: 1, head_repository_id: 1, head_branch: "main", head_sha: "0".repeat(40) },
  };
}

/** Another run's artifacts: listed by run (and name), and each zip's download answered with GitHub's redirect to it. */
export const ARTIFACT_HANDLERS: Record<string, ArtifactHandler> = {
  "actions/list-workflow-run-artifacts": (request, state) => {
    const repo = `${request.params.owner}/${request.params.repo}`;
    const name = new URL(request.url, "http://x").searchParams.get("name");
    const found = state.artifacts.filter((a) => a.repo === repo && a.runId === Number(request.params.run_id) && (name === null || a.name === name));
    return { status: 200, body: { total_count: found.length, artifacts: found.map(listed) } };
  },
  "actions/get-workflow-run": (request, state) => {
    const runId = Number(request.params.run_id);
    const status = state.runs.get(runId);
    if (!status) return { status: 404, body: { message: "Not Found" } };
    return { status: 200, body: { id: runId, name: "kto runner", status, conclusion: status === "completed" ? "success" : null, event: "workflow_dispatch" } };
  },
  "actions/download-artifact": (request, state) => {
    const repo = `${request.params.owner}/${request.params.repo}`;
    const artifact = state.artifacts.find((a) => a.repo === repo && a.id === Number(request.params.artifact_id));
    if (!artifact) return { status: 404, body: { message: "Not Found" } };
    if (request.params.archive_format !== "zip") return { status: 404, body: { message: "Not Found" } };
    return { status: 302, body: null, headers: { location: artifact.zipUrl } };
  },
};
