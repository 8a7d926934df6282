import { z } from "zod";
import { CONTAINED_CAPABILITIES } from "./capability-reach.js";
import { DOCKER_DEVICES } from "./docker-access.js";
import { parseYaml, readYamlText } from "./load-config.js";
import { NO_PRIVILEGES, privilegeAllowanceSchema, type PrivilegeAllowance } from "./privileges.js";

/** Where a host's owner says what jobs on it may have; KTO_HOST_POLICY names another file. */
export const HOST_POLICY_PATH = "/etc/kto/policy.yml";
export const HOST_POLICY_ENV = "KTO_HOST_POLICY";

export function hostPolicyPath(env: NodeJS.ProcessEnv = process.env): string {
  return env[HOST_POLICY_ENV] || HOST_POLICY_PATH;
}

/** A host's word on privileges, and where it was read (or looked for). */
export interface HostPolicy {
  file: string;
  /** False when there is no such file and the default for the kind of host applies. */
  present: boolean;
  privileges: PrivilegeAllowance;
}

const hostPolicySchema = z
  .object({
    version: z.literal(1, { errorMap: () => ({ message: "expected version: 1" }) }),
    privileges: privilegeAllowanceSchema.default({}),
  })
  .strict();

/** A runner host without a policy file grants nothing: it runs other people's code. */
export const RUNNER_DEFAULT = NO_PRIVILEGES;

/**
 * A developer's own machine without a policy file grants what stays inside the container,
 * so that `kto run` runs one's own suites as they are written; what reaches past it is
 * still refused, because the config may be someone else's (a pull request checked out to try).
 */
export const LOCAL_DEFAULT: PrivilegeAllowance = Object.freeze({
  user: "root",
  capabilities: CONTAINED_CAPABILITIES,
  devices: DOCKER_DEVICES,
  network: true,
});

/** Parses a policy file's text; a ConfigError names the file, line and field of each problem. */
export function parseHostPolicy(text: string, file: string): HostPolicy {
  return { file, present: true, privileges: parseYaml(hostPolicySchema, text, file).data.privileges };
}

/** The policy in `file`, or `whenAbsent` when there is none; a ConfigError when it cannot be read or is invalid. */
export async function loadHostPolicy(file: string, whenAbsent: PrivilegeAllowance): Promise<HostPolicy> {
  const text = await readYamlText(file);
  return text === null ? { file, present: false, privileges: whenAbsent } : parseHostPolicy(text, file);
}

/** Who grants under `policy`, as a refusal names it. */
export function grantorOf(policy: HostPolicy): string {
  return policy.present ? `this host's policy (${policy.file})` : `this host's default (no policy file at ${policy.file})`;
}
