import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, it } from "@jest/globals";
import { appManifest, EVENT_PERMISSION, REQUIRED, satisfies, type Level } from "../helpers/github-double/permissions.js";

const require = createRequire(import.meta.url);
const spec = require("@octokit/openapi/generated/api.github.com.json") as { paths: Record<string, Record<string, { operationId: string }>> };
const APP_SOURCE = new URL("../../src/app/", import.meta.url);

/** Every operation kto's App code calls, by operationId: `octokit.rest.<scope>.<method>`, and `octokit.request("<METHOD> <path>")` or `octokit.paginate(…)` of one. */
function operationsCalled(): Set<string> {
  const byMethod = new Map<string, string>();
  const byRoute = new Map<string, string>();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const [scope, name] = operation.operationId.split("/") as [string, string];
      byMethod.set(`${scope}.${name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())}`, operation.operationId);
      byRoute.set(`${method.toUpperCase()} ${path}`, operation.operationId);
    }
  }
  const called = new Set<string>();
  // Recursive: src/app keeps its code in folders by concern (webhooks/, github/, ...).
  for (const file of readdirSync(APP_SOURCE, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))) {
    const text = readFileSync(new URL(file, APP_SOURCE), "utf8");
    for (const [, method] of text.matchAll(/\.rest\.(\w+\.\w+)/g)) called.add(byMethod.get(method!) ?? `unknown octokit method ${method} in ${file}`);
    for (const [, route] of text.matchAll(/\.(?:request|paginate)\(\s*"((?:GET|POST|PATCH|PUT|DELETE) [^"]+)"/g))
      called.add(byRoute.get(route!) ?? `unknown route ${route} in ${file}`);
  }
  return called;
}

describe("app.yml's permissions", () => {
  const { default_permissions: granted, default_events: events } = appManifest();

  it("has a required permission for every operation the App calls, and for no other", () => {
    // Probot asks for installation tokens itself.
    const called = new Set([...operationsCalled(), "apps/create-installation-access-token"]);
    expect([...called].sort()).toEqual(Object.keys(REQUIRED).sort());
  });

  it("grants what each of those operations and each subscribed event needs", () => {
    const short = Object.entries(REQUIRED).flatMap(([operation, requirement]) =>
      "app" in requirement || satisfies(granted[requirement.permission], requirement.level)
        ? []
        : [`${operation} needs ${requirement.permission}: ${requirement.level}`],
    );
    expect(short).toEqual([]);
    for (const event of events) {
      expect(EVENT_PERMISSION).toHaveProperty([event]);
      const permission = EVENT_PERMISSION[event];
      if (permission) expect({ event, granted: granted[permission] ?? "none" }).toEqual({ event, granted: expect.stringMatching(/^(read|write)$/) });
    }
  });

  it("grants nothing more: each permission at the level some operation or event needs", () => {
    const needed = new Map<string, Level>();
    for (const requirement of Object.values(REQUIRED)) {
      if ("app" in requirement) continue;
      if (needed.get(requirement.permission) !== "write") needed.set(requirement.permission, requirement.level);
    }
    for (const event of events) {
      const permission = EVENT_PERMISSION[event];
      if (permission && !needed.has(permission)) needed.set(permission, "read");
    }
    expect(granted).toEqual(Object.fromEntries(needed));
  });
});
