import { codeSpan } from "../../runners/report/markdown.js";
import { httpStatusOf } from "../../orchestrator/http-status.js";
import { type Octokit, splitRepo } from "../github/github-api.js";
import { CONFIG_PATH, RUNNER_WORKFLOW, RUNNER_WORKFLOW_PATH, STARTER_CONFIG } from "./onboarding-files.js";

export const SETUP_CHECK_RUN = "kto / setup";

async function exists(octokit: Octokit, owner: string, repo: string, path: string, ref: string): Promise<boolean> {
  try {
    await octokit.rest.repos.getContent({ owner, repo, path, ref });
    return true;
  } catch (error) {
    if (httpStatusOf(error) === 404) return false;
    throw error;
  }
}

const fenced = (path: string, text: string) => `\`${path}\`:\n\n\`\`\`yaml\n${text}\`\`\`\n`;

/**
 * Installed on a repository without the runner workflow, kto shows what to add: a neutral
 * `kto / setup` check run on the default branch's head, with the workflow and, when the
 * repository has no config, a starter config. The App reads code and never writes it
 * (adding a workflow would take the contents and workflows write permissions), so a person
 * adds the files. Returns the check run's id, or null when the workflow is there.
 */
export async function showOnboarding(octokit: Octokit, fullName: string): Promise<number | null> {
  const { owner, repo } = splitRepo(fullName);
  const { data: repository } = await octokit.rest.repos.get({ owner, repo });
  const branch = repository.default_branch;
  if (await exists(octokit, owner, repo, RUNNER_WORKFLOW_PATH, branch)) return null;
  const { data: head } = await octokit.rest.repos.getCommit({ owner, repo, ref: branch });
  const files: [string, string][] = [[RUNNER_WORKFLOW_PATH, RUNNER_WORKFLOW]];
  if (!(await exists(octokit, owner, repo, CONFIG_PATH, branch))) files.push([CONFIG_PATH, STARTER_CONFIG]);
  const { data: run } = await octokit.rest.checks.create({
    owner,
    repo,
    name: SETUP_CHECK_RUN,
    head_sha: head.sha,
    status: "completed",
    conclusion: "neutral",
    output: {
      title: `Add ${files.map(([path]) => path).join(" and ")} to run kto here`,
      summary: [
        "kto runs this repository's kernel and system tests on your self-hosted runners and reports them as check runs.",
        "",
        `To start, commit ${files.length > 1 ? "these files" : "this file"} to ${codeSpan(branch)} (shown below; kto only reads code, so it does not add them itself):`,
        "",
        `- \`${RUNNER_WORKFLOW_PATH}\`: the workflow kto dispatches, one run per test job, on the runner it leased.`,
        ...(files.length > 1 ? [`- \`${CONFIG_PATH}\`: a starter config with one Docker suite; add your QEMU and Docker suites there.`] : []),
        "",
        "Runners need `self-hosted/provision.sh` from kto and a unique `kto-runner-<name>` label.",
      ].join("\n"),
      text: files.map(([path, text]) => fenced(path, text)).join("\n"),
    },
  });
  return run.id;
}
