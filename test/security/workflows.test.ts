import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "@jest/globals";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Workflow {
  jobs?: Record<string, { steps?: { run?: unknown }[] }>;
}

/**
 * `run:` scripts with an expression in them. GitHub substitutes `${{ … }}` into the script
 * text before the shell sees it, so a dispatch input such as `x'; curl … | sh; '` becomes
 * code; through `env:` it stays a value.
 */
function expressionsInScripts(workflow: Workflow): string[] {
  return Object.entries(workflow.jobs ?? {}).flatMap(([job, { steps }]) =>
    (steps ?? []).flatMap((step, i) => (typeof step.run === "string" && step.run.includes("${{") ? [`jobs.${job}.steps[${i}].run: ${step.run}`] : [])),
  );
}

async function shippedWorkflows(): Promise<string[]> {
  const examples = (await readdir(`${ROOT}examples/workflows`)).filter((name) => /\.ya?ml$/.test(name)).map((name) => `examples/workflows/${name}`);
  return [...examples, "self-hosted/kto-runner.yml"];
}

describe("the workflows kto ships", () => {
  it("spot an expression in a run: script", () => {
    const workflow = parse(
      "jobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n      - run: echo ok\n      - env: { X: '${{ inputs.x }}' }\n        run: echo \"$X\" ${{ inputs.y }}\n",
    ) as Workflow;
    expect(expressionsInScripts(workflow)).toEqual(['jobs.a.steps[2].run: echo "$X" ${{ inputs.y }}']);
  });

  it("pass inputs and other expressions to run: scripts through env:, never inside the script", async () => {
    const files = await shippedWorkflows();
    expect(files).toEqual(expect.arrayContaining(["examples/workflows/kto-run.yml", "self-hosted/kto-runner.yml"]));
    const found: string[] = [];
    for (const file of files) {
      const workflow = parse(await readFile(`${ROOT}${file}`, "utf8")) as Workflow;
      expect(Object.keys(workflow.jobs ?? {})).not.toEqual([]);
      found.push(...expressionsInScripts(workflow).map((where) => `${file}: ${where}`));
    }
    expect(found).toEqual([]);
  });
});
