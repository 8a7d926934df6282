import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import type { IncomingMessage } from "node:http";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string };
  "x-multi-segment"?: boolean;
  $ref?: string;
}
interface Schema {
  type?: string;
  properties?: Record<string, unknown>;
  additionalProperties?: unknown;
  allOf?: Schema[];
  anyOf?: Schema[];
  oneOf?: Schema[];
}
interface Operation {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
}
type Spec = { paths: Record<string, Record<string, Operation>>; components: { parameters: Record<string, Parameter> } };

const require = createRequire(import.meta.url);
const GENERATED = dirname(require.resolve("@octokit/openapi/generated/api.github.com.json"));

/** The GitHub Enterprise Server versions whose descriptions @octokit/openapi ships, oldest first. */
export const GHES_VERSIONS: readonly string[] = readdirSync(GENERATED)
  .flatMap((name) => /^ghes-(\d+\.\d+)\.json$/.exec(name)?.[1] ?? [])
  .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));

/** The server a request is checked as: github.com, or a GitHub Enterprise Server version. */
export type Server = { kind: "github.com" } | { kind: "ghes"; version: string };

interface Description {
  spec: Spec;
  ajv: Ajv;
  routes: Map<string, Route[]>;
}

interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  names: string[];
  operation: Operation;
  body?: ValidateFunction;
  parameters?: { parameter: Parameter; validate: ValidateFunction }[];
}

const descriptions = new Map<string, Description>();

/** A published REST description, once per process: the contract every request is checked against. */
function description(server: Server): Description {
  const file = server.kind === "ghes" ? `ghes-${server.version}.json` : "api.github.com.json";
  const cached = descriptions.get(file);
  if (cached) return cached;
  if (server.kind === "ghes" && !GHES_VERSIONS.includes(server.version))
    throw new Error(`@octokit/openapi has no GHES ${server.version} description (it has ${GHES_VERSIONS.join(", ")})`);
  const spec = JSON.parse(readFileSync(`${GENERATED}/${file}`, "utf8")) as Spec;
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  // GitHub's own format: owner/name.
  ajv.addFormat("repo.nwo", /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/);
  ajv.addSchema(spec as object, "github");
  const loaded = { spec, ajv, routes: new Map<string, Route[]>() };
  descriptions.set(file, loaded);
  return loaded;
}

function pointer(parts: string[]): string {
  return parts.map((p) => encodeURIComponent(p.replace(/~/g, "~0").replace(/\//g, "~1"))).join("/");
}

function routesFor(api: Description, method: string): Route[] {
  let list = api.routes.get(method);
  if (list) return list;
  list = [];
  for (const [template, item] of Object.entries(api.spec.paths)) {
    const operation = item[method];
    if (!operation) continue;
    const names: string[] = [];
    const multi = new Set((operation.parameters ?? []).filter((p) => p["x-multi-segment"]).map((p) => p.name));
    const source = template
      .replace(/[.*+?^$()|[\]\\]/g, "\\$&")
      .replace(/\\?\{([^}]+)\\?\}/g, (_, name: string) => (names.push(name), multi.has(name) ? "(.+)" : "([^/]+)"));
    list.push({ method, template, pattern: new RegExp(`^${source}$`), names, operation });
  }
  // Literal segments win over parameters, as a router would match them.
  list.sort((a, b) => b.template.replace(/\{[^}]+\}/g, "").length - a.template.replace(/\{[^}]+\}/g, "").length);
  api.routes.set(method, list);
  return list;
}

/** A query or path value as the parameter's schema types it; what does not parse stays a string and fails the schema. */
function typed(value: string, type: string | undefined): unknown {
  if (type === "integer" && /^-?\d+$/.test(value)) return Number(value);
  if (type === "number" && value.trim() !== "" && !Number.isNaN(Number(value))) return Number(value);
  if (type === "boolean" && (value === "true" || value === "false")) return value === "true";
  if (type === "array") return value.split(",");
  return value;
}

function parametersOf(api: Description, route: Route): NonNullable<Route["parameters"]> {
  route.parameters ??= (route.operation.parameters ?? []).map((declared, i) => {
    const name = declared.$ref?.replace("#/components/parameters/", "");
    const parameter = name ? api.spec.components.parameters[name]! : declared;
    const at = name ? ["components", "parameters", name, "schema"] : ["paths", route.template, route.method, "parameters", String(i), "schema"];
    return { parameter, validate: api.ajv.compile({ $ref: `github#/${pointer(at)}` }) };
  });
  return route.parameters;
}

function issuesOf(validate: ValidateFunction, where: string): string {
  return (validate.errors ?? []).map((e) => `${where}${e.instancePath} ${e.message}`).join("; ");
}

/** The top-level keys a body schema names; null when it takes any key. */
function permittedKeys(schema: Schema): Set<string> | null {
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) return null;
  const keys = new Set(Object.keys(schema.properties ?? {}));
  for (const branch of [...(schema.allOf ?? []), ...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) {
    const more = permittedKeys(branch);
    if (more === null) return null;
    for (const key of more) keys.add(key);
  }
  return keys.size > 0 ? keys : null;
}

const TEXT_LIMIT = 65_535;
const ANNOTATION_TITLE = 255;
const ANNOTATION_BYTES = 64 * 1024;
const RUNNER_NAME = 64;

type Body = Record<string, unknown>;
type Annotation = { title?: unknown; message?: unknown; raw_details?: unknown };

function checkRunOutput(body: Body): string[] {
  const output = (body.output ?? {}) as { summary?: unknown; text?: unknown; annotations?: unknown };
  const problems: string[] = [];
  for (const field of ["summary", "text"] as const) {
    const value = output[field];
    // GitHub: "Only 65535 characters are allowed; exceeds a maximum bytesize of 65535", counted in UTF-8.
    if (typeof value === "string" && Buffer.byteLength(value) > TEXT_LIMIT)
      problems.push(`/output/${field} is ${Buffer.byteLength(value)} bytes; exceeds a maximum bytesize of ${TEXT_LIMIT}`);
  }
  const annotations = Array.isArray(output.annotations) ? (output.annotations as Annotation[]) : [];
  annotations.forEach((a, i) => {
    // "255 characters": code points, as GitHub counts a string's length; an emoji is one.
    const titleChars = typeof a.title === "string" ? [...a.title].length : 0;
    if (titleChars > ANNOTATION_TITLE) problems.push(`/output/annotations/${i}/title is ${titleChars} characters; at most ${ANNOTATION_TITLE}`);
    for (const field of ["message", "raw_details"] as const) {
      const value = a[field];
      if (typeof value === "string" && Buffer.byteLength(value) > ANNOTATION_BYTES)
        problems.push(`/output/annotations/${i}/${field} is ${Buffer.byteLength(value)} bytes; at most 64 KB`);
    }
  });
  return problems;
}

function runnerName(body: Body): string[] {
  return typeof body.name === "string" && body.name.length > RUNNER_NAME
    ? [`/name is ${body.name.length} characters; a runner name is at most ${RUNNER_NAME}`]
    : [];
}

/** Limits GitHub states only in its documentation's prose, which no schema carries. */
const PROSE_LIMITS: Record<string, (body: Body) => string[]> = {
  "checks/create": checkRunOutput,
  "checks/update": checkRunOutput,
  "actions/generate-runner-jitconfig-for-repo": runnerName,
  "actions/generate-runner-jitconfig-for-org": runnerName,
  "actions/create-workflow-dispatch": (body) => {
    const size = body.inputs === undefined ? 0 : JSON.stringify(body.inputs).length;
    return size > TEXT_LIMIT ? [`/inputs are ${size} characters as JSON; the inputs of a dispatch are at most ${TEXT_LIMIT}`] : [];
  },
};

export interface CheckedRequest {
  operationId: string;
  method: string;
  path: string;
  url: string;
  params: Record<string, string>;
  body: Record<string, unknown>;
  /** The server the request was checked as. */
  server: Server;
  /** When it arrived (performance.now()), for latency measurements. */
  at: number;
}

/**
 * Matches a request to its operation and checks its path, query and body as GitHub would;
 * throws with the status and reason GitHub would give. A request under /api/v3 is checked
 * against the description of GitHub Enterprise Server `ghesVersion`, any other against
 * github.com's.
 */
export function checkRequest(
  method: string,
  url: string,
  headers: IncomingMessage["headers"],
  text: string,
  ghesVersion: string = GHES_VERSIONS[0]!,
): CheckedRequest {
  const parsed = new URL(url, "http://x");
  const ghes = /^\/api\/v3(?=\/)/.test(parsed.pathname);
  const server: Server = ghes ? { kind: "ghes", version: ghesVersion } : { kind: "github.com" };
  const api = description(server);
  const path = parsed.pathname.replace(/^\/api\/v3(?=\/)/, "");
  const route = routesFor(api, method.toLowerCase()).find((r) => r.pattern.test(path));
  const name = server.kind === "ghes" ? `GHES ${server.version}'s` : "GitHub's";
  if (!route) throw new Error(`404: no ${method} ${path} in ${name} REST API`);
  if (!headers.authorization) throw new Error("401: requires authentication");
  const match = route.pattern.exec(path)!;
  const params = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(match[i + 1]!)]));
  const { operationId } = route.operation;

  for (const { parameter, validate } of parametersOf(api, route)) {
    if (parameter.in === "path") {
      // GitHub's router does not match a path whose segment is not of its type.
      if (!validate(typed(params[parameter.name]!, parameter.schema?.type))) throw new Error(`404: ${operationId}: ${issuesOf(validate, parameter.name)}`);
    } else if (parameter.in === "query") {
      const value = parsed.searchParams.get(parameter.name);
      if (value === null) {
        if (parameter.required) throw new Error(`422: ${operationId}: the query needs ${parameter.name}`);
      } else if (!validate(typed(value, parameter.schema?.type))) throw new Error(`422: ${operationId}: ${issuesOf(validate, `?${parameter.name}`)}`);
    }
  }

  const content = route.operation.requestBody?.content["application/json"];
  let body: Body = {};
  if (text) {
    try {
      body = JSON.parse(text) as Body;
    } catch {
      throw new Error("400: Problems parsing JSON");
    }
  }
  if (content) {
    route.body ??= api.ajv.compile({
      $ref: `github#/${pointer(["paths", route.template, route.method, "requestBody", "content", "application/json", "schema"])}`,
    });
    if (!route.body(body)) throw new Error(`422: ${operationId}: ${issuesOf(route.body, "(body)")}`);
    // GitHub refuses a key its schema does not name, in these words.
    const permitted = permittedKeys(content.schema);
    const unknown = permitted && typeof body === "object" && body !== null ? Object.keys(body).find((key) => !permitted.has(key)) : undefined;
    if (unknown !== undefined) throw new Error(`422: "${unknown}" is not a permitted key.`);
  } else if (route.operation.requestBody?.required) throw new Error(`422: ${operationId} needs a body`);
  const prose = PROSE_LIMITS[operationId]?.(body) ?? [];
  if (prose.length > 0) throw new Error(`422: ${operationId}: ${prose.join("; ")}`);
  return { operationId, method, path, url, params, body, server, at: performance.now() };
}
