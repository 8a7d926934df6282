import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { PROJECT_ROOT_URL } from "../project-root.js";

export type Level = "read" | "write";
/** A GitHub App's permissions, as app.yml's default_permissions and an installation token name them. */
export type Permissions = Record<string, Level>;

/**
 * Who may call an operation: an installation token with `permission` at `level` or above,
 * or the App itself with its JWT. From GitHub's "Permissions required for GitHub Apps",
 * for the operations kto calls; the double refuses an operation missing here, so that a
 * new call cannot go unchecked.
 */
export type Requirement = { permission: string; level: Level } | { app: true };

const need = (permission: string, level: Level): Requirement => ({ permission, level });
const APP: Requirement = { app: true };

export const REQUIRED: Readonly<Record<string, Requirement>> = {
  "apps/get-authenticated": APP,
  "apps/create-installation-access-token": APP,
  "apps/get-installation": APP,
  "apps/get-repo-installation": APP,
  "apps/get-org-installation": APP,
  "apps/list-webhook-deliveries": APP,
  "apps/redeliver-webhook-delivery": APP,
  "checks/create": need("checks", "write"),
  "checks/update": need("checks", "write"),
  "checks/list-annotations": need("checks", "read"),
  "checks/list-suites-for-ref": need("checks", "read"),
  "checks/list-for-suite": need("checks", "read"),
  "repos/get": need("metadata", "read"),
  "repos/get-collaborator-permission-level": need("metadata", "read"),
  "repos/get-content": need("contents", "read"),
  "repos/get-commit": need("contents", "read"),
  "repos/list-commits": need("contents", "read"),
  "repos/compare-commits": need("contents", "read"),
  "pulls/get": need("pull_requests", "read"),
  "actions/create-workflow-dispatch": need("actions", "write"),
  "actions/list-workflow-runs": need("actions", "read"),
  "actions/cancel-workflow-run": need("actions", "write"),
  "actions/list-self-hosted-runners-for-repo": need("administration", "read"),
  "actions/generate-runner-jitconfig-for-repo": need("administration", "write"),
  "actions/create-registration-token-for-repo": need("administration", "write"),
  "actions/list-self-hosted-runners-for-org": need("organization_self_hosted_runners", "read"),
  "actions/generate-runner-jitconfig-for-org": need("organization_self_hosted_runners", "write"),
  "actions/create-registration-token-for-org": need("organization_self_hosted_runners", "write"),
  "actions/list-self-hosted-runner-groups-for-org": need("organization_self_hosted_runners", "read"),
  "actions/list-repo-access-to-self-hosted-runner-group-in-org": need("organization_self_hosted_runners", "read"),
};

/**
 * Operations only the action calls, with the workflow's own token (its `permissions:`), never
 * the App: a job reading the artifact of the run that built its kernel.
 */
export const WORKFLOW_TOKEN_REQUIRED: Readonly<Record<string, Requirement>> = {
  "actions/get-workflow-run": need("actions", "read"),
  "actions/list-workflow-run-artifacts": need("actions", "read"),
  "actions/download-artifact": need("actions", "read"),
};

/** What an App must hold to be sent each webhook event it subscribes to (installation events need nothing). */
export const EVENT_PERMISSION: Readonly<Record<string, string | null>> = {
  check_run: "checks",
  check_suite: "checks",
  issue_comment: "issues",
  pull_request: "pull_requests",
  push: "contents",
  repository_dispatch: "contents",
  workflow_dispatch: "contents",
  workflow_job: "actions",
  installation: null,
  installation_repositories: null,
};

export function satisfies(granted: Level | undefined, level: Level): boolean {
  return granted === "write" || (granted === "read" && level === "read");
}

/** app.yml, the manifest the App is created from. */
export function appManifest(): { default_permissions: Permissions; default_events: string[] } {
  return parse(readFileSync(new URL("app.yml", PROJECT_ROOT_URL), "utf8")) as { default_permissions: Permissions; default_events: string[] };
}

/** A caller: an installation token's permissions, or the App's JWT. */
export type Caller = { kind: "installation"; permissions: Permissions } | { kind: "app" };

/**
 * Why GitHub would refuse `operationId` from `caller` (403 or 501 and a message), or null.
 * GitHub answers a token without the permission with 403 "Resource not accessible by
 * integration", a JWT used for anything but the App's own endpoints likewise.
 */
export function refusal(operationId: string, caller: Caller): { status: number; message: string } | null {
  const requirement = REQUIRED[operationId] ?? WORKFLOW_TOKEN_REQUIRED[operationId];
  if (!requirement) return { status: 501, message: `the double has no required permission for ${operationId}: add GitHub's to REQUIRED` };
  const forbidden = { status: 403, message: "Resource not accessible by integration" };
  if ("app" in requirement) return caller.kind === "app" ? null : forbidden;
  if (caller.kind === "app") return forbidden;
  return satisfies(caller.permissions[requirement.permission], requirement.level) ? null : forbidden;
}
