import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { z } from "zod";

/** What the App answers POST /kto/api/runners/registration-token with. */
const grantSchema = z.object({
  url: z.string().url(),
  token: z.string().min(1),
  name: z.string(),
  labels: z.array(z.string()),
  runnerGroup: z.string().nullable(),
  workFolder: z.string(),
});
export type Grant = z.output<typeof grantSchema>;

/** The Actions runner's own record of its registration; config.sh writes it (with a byte-order mark on some releases). */
const runnerFileSchema = z.object({ agentId: z.number().int().min(1), agentName: z.string() });

export class TokenRegistrationError extends Error {
  override readonly name = "TokenRegistrationError";
}

export function parseGrant(body: unknown): Grant {
  const parsed = grantSchema.safeParse(body);
  if (!parsed.success) throw new TokenRegistrationError(`the App's answer is not a registration token: ${parsed.error.issues[0]?.message ?? "malformed"}`);
  return parsed.data;
}

/**
 * config.sh's arguments for one ephemeral runner: it takes one job and is gone. The token
 * is not among them: a command line is world-readable, so it goes in the environment.
 */
export function configArgs(grant: Grant): string[] {
  return [
    "--unattended",
    "--ephemeral",
    "--url",
    grant.url,
    "--name",
    grant.name,
    "--labels",
    grant.labels.join(","),
    "--work",
    grant.workFolder,
    ...(grant.runnerGroup ? ["--runnergroup", grant.runnerGroup] : []),
  ];
}

/**
 * Registers the runner in `runnerDir` with config.sh and the App's token; the runner's id,
 * from the .runner file config.sh wrote. config.sh sees the token in
 * ACTIONS_RUNNER_INPUT_TOKEN and not the registration secret.
 */
export async function configureRunner(runnerDir: string, grant: Grant, env: NodeJS.ProcessEnv): Promise<number> {
  const { KTO_RUNNER_REGISTRATION_SECRET: _secret, ...rest } = env;
  const result = await execa(join(runnerDir, "config.sh"), configArgs(grant), {
    cwd: runnerDir,
    env: { ...rest, ACTIONS_RUNNER_INPUT_TOKEN: grant.token },
    extendEnv: false,
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0)
    throw new TokenRegistrationError(`config.sh exited ${result.exitCode}: ${(result.all ?? "").trim().split("\n").slice(-3).join(" / ")}`);
  const text = (await readFile(join(runnerDir, ".runner"), "utf8")).replace(/^\uFEFF/, "");
  const runner = runnerFileSchema.safeParse(JSON.parse(text));
  if (!runner.success) throw new TokenRegistrationError(`config.sh left no runner id in ${join(runnerDir, ".runner")}`);
  return runner.data.agentId;
}
