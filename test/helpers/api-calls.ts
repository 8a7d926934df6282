import type { CheckedRequest } from "./github-api-double.js";

/** What kto asks GitHub for, by what it is for. */
const KINDS: [string, (operationId: string) => boolean][] = [
  ["check run writes", (op) => op === "checks/create" || op === "checks/update"],
  ["dispatches", (op) => op === "actions/create-workflow-dispatch"],
  ["cancels", (op) => op === "actions/cancel-workflow-run"],
  ["run lookups", (op) => op === "actions/list-workflow-runs"],
  ["runner listings", (op) => op.startsWith("actions/list-self-hosted-runner") || op === "actions/list-repo-access-to-self-hosted-runner-group-in-org"],
  ["config reads", (op) => op === "repos/get-content"],
  ["lookups after a lost answer (check runs, annotations)", (op) => op === "checks/list-for-ref" || op === "checks/list-annotations"],
  ["the App's own (tokens, GET /app)", (op) => op.startsWith("apps/")],
];

export interface CallCount {
  kind: string;
  calls: number;
  perJob: number;
}

/** The requests by kind, and per job; every kind listed, "other" last. */
export function callsPerJob(requests: readonly CheckedRequest[], jobs: number): CallCount[] {
  const counts = new Map<string, number>([...KINDS.map(([kind]) => [kind, 0] as [string, number]), ["other", 0]]);
  for (const { operationId } of requests) {
    const kind = KINDS.find(([, matches]) => matches(operationId))?.[0] ?? "other";
    counts.set(kind, counts.get(kind)! + 1);
  }
  return [...counts].map(([kind, calls]) => ({ kind, calls, perJob: calls / jobs }));
}

/** The counts as a Markdown table, with the writes (what GitHub's secondary limits weigh 5 times) totalled. */
export function callsTable(requests: readonly CheckedRequest[], jobs: number): string {
  const rows = callsPerJob(requests, jobs);
  const writes = requests.filter((r) => r.method !== "GET" && !r.operationId.startsWith("apps/")).length;
  return [
    "| GitHub API calls | total | per job |",
    "|---|---|---|",
    ...rows.map((r) => `| ${r.kind} | ${r.calls} | ${r.perJob.toFixed(2)} |`),
    `| **all** | ${requests.length} | ${(requests.length / jobs).toFixed(2)} |`,
    `| of which writes | ${writes} | ${(writes / jobs).toFixed(2)} |`,
  ].join("\n");
}
