import { z } from "zod";
import { CAPABILITY_REACH, CONTAINED_CAPABILITIES } from "./capability-reach.js";
import { DOCKER_DEVICES, isRootUser, NOBODY_USER, normaliseCapability, type DockerDevice, type LinuxCapability } from "./docker-access.js";

/**
 * Privileges are what a docker job may have beyond kto's isolation defaults: root, capabilities,
 * devices, a network. They are the hardware owner's to grant (a runner host's policy), and a
 * base branch's config may narrow them; the code under test never grants itself any.
 */

/** `root`: a job may run as uid 0. `non-root`: any other uid, which holds no more of the host than nobody does. */
export const USER_GRANTS = ["non-root", "root"] as const;
export type UserGrant = (typeof USER_GRANTS)[number];

/** What a job may be given. A capability that reaches past the container is in `capabilities` only when it was named. */
export interface PrivilegeAllowance {
  user: UserGrant;
  capabilities: readonly LinuxCapability[];
  devices: readonly DockerDevice[];
  network: boolean;
}

export const NO_PRIVILEGES: PrivilegeAllowance = Object.freeze({ user: "non-root", capabilities: [], devices: [], network: false });

/** The word, in a list of capabilities granted, for every capability that stays inside the container. */
export const CONTAINED = "contained";

const capabilityGrant = z.string().transform((value, ctx) => {
  if (value.trim().toLowerCase() === CONTAINED) return CONTAINED_CAPABILITIES;
  const capability = normaliseCapability(value);
  if (capability) return [capability];
  ctx.addIssue({ code: "custom", message: `expected a Linux capability such as NET_ADMIN, or ${CONTAINED} for every one that stays inside the container` });
  return z.NEVER;
});

/** `privileges:` as a host's policy and a base branch's config write it; anything left out is not allowed. */
export const privilegeAllowanceSchema = z
  .object({
    user: z.enum(USER_GRANTS).default("non-root"),
    capabilities: z
      .array(capabilityGrant)
      .default([])
      .transform((grants) => [...new Set(grants.flat())]),
    devices: z
      .array(z.enum(DOCKER_DEVICES))
      .default([])
      .transform((devices) => [...new Set(devices)]),
    network: z.boolean().default(false),
  })
  .strict();

/** What a docker job or suite asks for, in the fields its config has. */
export interface PrivilegeAsk {
  /** Numeric `uid:gid`; absent means nobody. */
  user?: string;
  capabilities?: readonly LinuxCapability[];
  devices?: readonly DockerDevice[];
  network: boolean;
}

/** One thing asked for and not allowed: where it is in the job or suite (`capabilities[1]`), and why. */
export interface Excess {
  path: ["user" | "network"] | ["capabilities" | "devices", number];
  message: string;
}

/** What `ask` wants that `allowance` does not allow, each naming `grantor` (whose word the allowance is). */
export function excessOver(ask: PrivilegeAsk, allowance: PrivilegeAllowance, grantor: string): Excess[] {
  const excess: Excess[] = [];
  if (isRootUser(ask.user ?? NOBODY_USER) && allowance.user !== "root")
    excess.push({ path: ["user"], message: `root is not allowed by ${grantor}, which has user: ${allowance.user}` });
  (ask.capabilities ?? []).forEach((capability, index) => {
    if (allowance.capabilities.includes(capability)) return;
    const reach = CAPABILITY_REACH[capability];
    excess.push({
      path: ["capabilities", index],
      message: reach
        ? `${capability} is not granted by ${grantor}: ${reach}, so only naming it grants it (${CONTAINED} does not)`
        : `${capability} is not granted by ${grantor}`,
    });
  });
  (ask.devices ?? []).forEach((device, index) => {
    if (!allowance.devices.includes(device)) excess.push({ path: ["devices", index], message: `${device} is not granted by ${grantor}` });
  });
  if (ask.network && !allowance.network) excess.push({ path: ["network"], message: `a network is not allowed by ${grantor}` });
  return excess;
}
