import * as core from "@actions/core";
import { DefaultArtifactClient } from "@actions/artifact";
import { uploadableFiles } from "./uploadable-files.js";
import { printLog } from "./workflow-log.js";

export interface Uploaded {
  id: number;
  url: string;
}

/**
 * Uploads the results folder as one artifact. An artifact service that cannot be reached
 * does not change the job's result: it is a warning, and the files stay on the runner.
 */
export async function uploadResults(
  name: string,
  dir: string,
  retentionDays: number | null,
  skip?: (path: string, isDirectory: boolean) => boolean,
  warn: (message: string) => void = core.warning,
): Promise<Uploaded | null> {
  try {
    const client = new DefaultArtifactClient();
    const { files, refused } = await uploadableFiles(dir, skip);
    if (refused.length > 0) {
      printLog(`kto: left out of the artifact:\n${refused.map((r) => `  ${JSON.stringify(r.path)}: ${r.why}`).join("\n")}`);
      warn(`${refused.length} file(s) in the results were left out of the artifact; the step's log lists them`);
    }
    const { id } = await client.uploadArtifact(name, files, dir, retentionDays ? { retentionDays } : {});
    if (id === undefined) throw new Error("the artifact service returned no id");
    const server = process.env.GITHUB_SERVER_URL ?? "https://github.com";
    const url = `${server}/${process.env.GITHUB_REPOSITORY}/actions/runs/${process.env.GITHUB_RUN_ID}/artifacts/${id}`;
    return { id, url };
  } catch (error) {
    warn(`could not upload the results as an artifact (${(error as Error).message}); they stay in ${dir}`);
    return null;
  }
}
