import { z } from "zod";
import { DOCKER_DEVICES, normaliseCapability, parseUser } from "./docker-access.js";
import { durationText, parseDuration } from "./duration.js";
import { MAX_IDLE_TIMEOUT_MS, MAX_TIMEOUT_MS } from "./limits.js";
import { parseSize } from "./size.js";

/**
 * The field schemas suites and builds share, so a build's name, timeout, matrix and
 * hardware read exactly as a suite's do. A module of its own because the config schema
 * holds both lists and the build schema must not import it back.
 */

/** A string (or number) read by `parse`; null from it means malformed, reported with `message`. */
function parsedWith<T>(parse: (value: string | number) => T | null, message: string) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const parsed = parse(value);
    if (parsed === null) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message });
      return z.NEVER;
    }
    return parsed;
  });
}

/** A duration up to `maxMs`. */
function durationUpTo(maxMs: number) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null || ms > maxMs) {
      const given = typeof value === "number" ? `${value}s` : value.trim();
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: ms === null ? "expected a duration like 20m" : `at most ${durationText(maxMs)}, got ${given}` });
      return z.NEVER;
    }
    return ms;
  });
}

export const timeout = durationUpTo(MAX_TIMEOUT_MS);
export const idleTimeout = durationUpTo(MAX_IDLE_TIMEOUT_MS);
export const size = parsedWith(parseSize, "expected a size like 2G or 512M");
export const user = parsedWith(parseUser, "expected root, a uid or uid:gid (numbers)");
export const capability = parsedWith((value) => normaliseCapability(String(value)), "expected a Linux capability such as NET_ADMIN or CAP_SYS_ADMIN");
export const devices = z.array(z.enum(DOCKER_DEVICES));

export const PRIORITIES = { low: 1, normal: 2, high: 3, urgent: 4 } as const;
export type PriorityName = keyof typeof PRIORITIES;
export const priority = z.union([z.enum(["low", "normal", "high", "urgent"]).transform((name) => PRIORITIES[name]), z.number().int().min(0).max(100)]);

export const retries = z.number().int().min(0).max(10);

export const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "expected a name of letters, digits, '.', '_' and '-'");

/** A string run with /bin/sh -c (like a workflow's `run:`), or an argv list run as it is. */
export const command = z.union([z.string().min(1, "expected a non-empty command"), z.array(z.string()).min(1)]);

const matrixValue = z.union([z.string(), z.number(), z.boolean()]);

export const matrix = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, "expected a matrix key of letters, digits, '_' and '-'"),
  z.array(matrixValue).min(1),
);

export const hardware = z
  .object({
    // GitHub matches runner labels without regard to case: kept in lower case, `KVM` is `kvm` everywhere kto looks.
    labels: z
      .array(
        z
          .string()
          .min(1)
          .transform((label) => label.toLowerCase()),
      )
      .default([]),
    memory: size.optional(),
    cpus: z.number().int().min(1).max(256).optional(),
  })
  .strict();

/**
 * Guest architectures kto boots. riscv64 waits for a Debian release that ships a riscv64
 * kernel and busybox (Debian 12 has neither), so nothing here could test it.
 */
export const GUEST_ARCHES = ["x86_64", "arm64"] as const;
export type GuestArch = (typeof GUEST_ARCHES)[number];
export const arch = z.enum(GUEST_ARCHES).default("x86_64");
