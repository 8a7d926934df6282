import { join } from "node:path";
import { describe, expect, it } from "@jest/globals";
import { DockerExecutor } from "../../src/runners/docker-executor.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { job, withTempDir } from "../helpers/job.js";

const factory = new ExecutorFactory({ docker: new DockerExecutor() });

describe("results_file is read from what the job wrote, and the job may be hostile", () => {
  it("a symlink to a host file is refused, not read", async () => {
    await withTempDir(async (dir) => {
      const result = await runJob(job({ id: "symlink", results: "junit", resultsFile: "junit.xml", command: "ln -s /etc/hostname /results/junit.xml" }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result.results).toMatchObject({ status: "errored", errors: ["results file junit.xml is a symlink; kto reads only regular files there"] });
      expect(result.status).toBe("failed");
    });
  });

  it("a FIFO does not block kto waiting for a writer", async () => {
    await withTempDir(async (dir) => {
      const result = await runJob(job({ id: "fifo", results: "junit", resultsFile: "junit.xml", command: "mkfifo /results/junit.xml" }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result.results?.errors).toEqual(["results file junit.xml is not a regular file"]);
    });
  }, 30_000);

  it("a symlinked directory on the way out of the results dir is refused", async () => {
    await withTempDir(async (dir) => {
      const result = await runJob(job({ id: "dir-link", results: "junit", resultsFile: "etc/hostname", command: "ln -s /etc /results/etc" }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result.results?.errors).toEqual(["results file etc/hostname is outside the results dir"]);
    });
  });

  it("a regular file is still read", async () => {
    await withTempDir(async (dir) => {
      const xml = '<testsuite name="s" tests="1"><testcase name="t"/></testsuite>';
      const result = await runJob(job({ id: "ok", results: "junit", resultsFile: "junit.xml", command: `echo '${xml}' > /results/junit.xml` }), {
        factory,
        workspace: dir,
        jobDir: join(dir, "job"),
      });
      expect(result).toMatchObject({ status: "succeeded", results: { counts: { passed: 1, total: 1 } } });
    });
  });
});
