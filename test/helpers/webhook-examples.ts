import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

/**
 * A copy of GitHub's own example of `event` with `action` (the `index`th, or the last there
 * is): the second pull_request.opened is the one whose repository and head commit the
 * GitHub API double serves.
 */
export function example(event: string, action: string, index = 1): Record<string, unknown> {
  const found = examples.find((e) => e.name === event)!.examples.filter((e) => (e.action ?? "") === action);
  return structuredClone(found[Math.min(index, found.length - 1)]!);
}
