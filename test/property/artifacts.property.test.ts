import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readFile, readdir, realpath, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import picomatch from "picomatch";
import { unsafePattern } from "../../src/runners/artifacts.js";
import { ExecutorFactory } from "../../src/runners/factory.js";
import { runJob } from "../../src/runners/run-job.js";
import { job, withTempDir } from "../helpers/job.js";

const factory = new ExecutorFactory();
const segment = fc.constantFrom("a", "b", "logs", "deep", "x.log", "y.txt", "core.bin", ".hidden");
const relPath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => parts.join("/"));
const PATTERNS = ["**/*.log", "results/**", "*.txt", "a/**", "results/*.bin", "**/.hidden", "../escape/**", "/etc/passwd", "logs/*", "nothing-matches"];

/** Regular files under root (symlinks excluded), relative, with "/" separators. */
async function regularFiles(root: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await regularFiles(root, rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** Writes files, skipping paths that collide with an existing file or directory. */
async function plant(root: string, paths: string[], content: (p: string) => string): Promise<void> {
  for (const path of paths) {
    const target = join(root, path);
    const parentOk = await mkdir(dirname(target), { recursive: true }).then(
      () => true,
      () => false,
    );
    if (!parentOk || (await lstat(target).catch(() => null))) continue;
    await writeFile(target, content(path));
  }
}

describe("artifact collection", () => {
  it("Property 13: artifact collection completeness — every file matching the globs, and nothing outside the job dir or workspace", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(relPath, { maxLength: 8 }),
        fc.uniqueArray(relPath, { maxLength: 8 }),
        fc.subarray(PATTERNS, { minLength: 1 }),
        async (jobFiles, workspaceFiles, patterns) =>
          withTempDir(async (dir) => {
            const workspace = join(dir, "ws");
            const outside = join(dir, "outside");
            await mkdir(workspace);
            await mkdir(outside);
            await chmod(workspace, 0o755);
            await writeFile(join(outside, "secret.log"), "must never be collected");
            await plant(workspace, workspaceFiles, (p) => `workspace ${p}`);
            await symlink(join(outside, "secret.log"), join(workspace, "linked.log"));
            await symlink(outside, join(workspace, "linked-dir"));

            // The job itself writes its files into /results from inside the container.
            const script = jobFiles
              .map((p) => `mkdir -p "$(dirname /results/${p})" 2>/dev/null; [ -e /results/${p} ] || echo "job ${p}" > /results/${p} 2>/dev/null`)
              .concat(["ln -s /etc/passwd /results/passwd.log", "ln -s / /results/root-link", "true"])
              .join("; ");
            const jobDir = join(dir, "job");
            const result = await runJob(job({ id: "p13", command: script, artifacts: patterns }), { factory, workspace, jobDir });
            expect(result.status).toBe("succeeded");

            const safe = patterns.filter((p) => unsafePattern(p) === null);
            const matches = picomatch(safe, { dot: true });
            const expectedJob = (await regularFiles(jobDir)).filter((p) => matches(p));
            const expectedWorkspace = (await regularFiles(workspace)).filter((p) => matches(p)).map((p) => `artifacts/workspace/${p}`);
            const expected = [...new Set([...expectedJob, ...expectedWorkspace])].sort();
            expect(result.artifacts.map((a) => a.path).sort()).toEqual(expected);

            const realJobDir = await realpath(jobDir);
            for (const artifact of result.artifacts) {
              const file = join(jobDir, artifact.path);
              const real = await realpath(file);
              expect(relative(realJobDir, real).startsWith("..")).toBe(false);
              const data = await readFile(file);
              expect(data.toString()).not.toContain("must never be collected");
              expect(artifact.size).toBe(data.length);
              expect(artifact.sha256).toBe(createHash("sha256").update(data).digest("hex"));
            }
          }),
      ),
      { numRuns: 15 },
    );
  });
});
