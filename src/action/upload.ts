import * as core from "@actions/core";
import { artifactService, type Uploaded } from "./artifact-service.js";
import { uploadableFiles } from "./uploadable-files.js";
import { printLog } from "./workflow-log.js";

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
    const { files, refused } = await uploadableFiles(dir, skip);
    if (refused.length > 0) {
      printLog(`kto: left out of the artifact:\n${refused.map((r) => `  ${JSON.stringify(r.path)}: ${r.why}`).join("\n")}`);
      warn(`${refused.length} file(s) in the results were left out of the artifact; the step's log lists them`);
    }
    return await artifactService().upload(name, files, dir, retentionDays);
  } catch (error) {
    warn(`could not upload the results as an artifact (${(error as Error).message}); they stay in ${dir}`);
    return null;
  }
}
