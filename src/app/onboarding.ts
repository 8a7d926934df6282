import { splitRepo, type Octokit } from "./github-api.js";
import { CONFIG_PATH, RUNNER_WORKFLOW, RUNNER_WORKFLOW_PATH, STARTER_CONFIG } from "./onboarding-files.js";

export const ONBOARDING_BRANCH = "kto/onboarding";

async function exists(octokit: Octokit, owner: string, repo: string, path: string, ref: string): Promise<boolean> {
  try {
    await octokit.rest.repos.getContent({ owner, repo, path, ref });
    return true;
  } catch (error) {
    if ((error as { status?: number }).status === 404) return false;
    throw error;
  }
}

/**
 * Installed on a repository without the runner workflow, kto opens one pull request that
 * adds it and a starter config. Nothing happens when the workflow is there, or when the
 * onboarding branch already exists (a pull request is open or was closed on purpose).
 */
export async function openOnboardingPullRequest(octokit: Octokit, fullName: string): Promise<number | null> {
  const { owner, repo } = splitRepo(fullName);
  const { data: repository } = await octokit.rest.repos.get({ owner, repo });
  const base = repository.default_branch;
  if (await exists(octokit, owner, repo, RUNNER_WORKFLOW_PATH, base)) return null;
  const { data: head } = await octokit.rest.git.getRef({ owner, repo, ref: `heads/${base}` });
  try {
    await octokit.rest.git.createRef({ owner, repo, ref: `refs/heads/${ONBOARDING_BRANCH}`, sha: head.object.sha });
  } catch (error) {
    if ((error as { status?: number }).status === 422) return null; // the branch exists
    throw error;
  }
  const files: [string, string, string][] = [[RUNNER_WORKFLOW_PATH, RUNNER_WORKFLOW, "Add the kto runner workflow"]];
  if (!(await exists(octokit, owner, repo, CONFIG_PATH, base))) files.push([CONFIG_PATH, STARTER_CONFIG, "Add a starter kto config"]);
  for (const [path, text, message] of files) {
    await octokit.rest.repos.createOrUpdateFileContents({ owner, repo, path, message, content: Buffer.from(text).toString("base64"), branch: ONBOARDING_BRANCH });
  }
  const { data: pull } = await octokit.rest.pulls.create({
    owner,
    repo,
    base,
    head: ONBOARDING_BRANCH,
    title: "Set up kto",
    body: [
      "kto runs this repository's kernel and system tests on your self-hosted runners and reports them as check runs.",
      "",
      `- \`${RUNNER_WORKFLOW_PATH}\`: the workflow kto dispatches, one run per test job, on the runner it leased.`,
      files.length > 1 ? `- \`${CONFIG_PATH}\`: a starter config with one Docker suite; add your QEMU and Docker suites there.` : "",
      "",
      "Runners need `self-hosted/provision.sh` from kto and a unique `kto-runner-<name>` label.",
    ]
      .filter((line, i, all) => line !== "" || all[i - 1] !== "")
      .join("\n"),
  });
  return pull.number;
}
