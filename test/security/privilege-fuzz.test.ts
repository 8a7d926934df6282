import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import { CAPABILITY_REACH } from "../../src/config/capability-reach.js";
import { DOCKER_DEVICES, LINUX_CAPABILITIES, normaliseCapability } from "../../src/config/docker-access.js";
import { buildPlan, ConfigError, narrowToBase, parseConfig, parseHostPolicy, type DockerJob, type PrivilegeAllowance } from "../../src/config/index.js";
import { PrivilegeRefusedError } from "../../src/runners/errors.js";
import { grantPrivileges } from "../../src/runners/privilege-grant.js";
import { job } from "../helpers/job.js";

/**
 * Privileges asked for and granted at random, in text as a head's config, a base's config
 * and a host's policy write them: whatever the draw, nothing is let through that its
 * grantor did not allow, and a capability that reaches past the container only by name.
 */

const capability = fc.constantFrom(...LINUX_CAPABILITIES);
const spelling = (name: string) => fc.constantFrom(name, `CAP_${name}`, name.toLowerCase());

/** Mostly what a person would write, now and then what nobody should. */
const mostly = <T>(valid: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) => fc.oneof({ weight: 19, arbitrary: valid }, { weight: 1, arbitrary: odd });
const grant = mostly(fc.oneof(fc.constant("contained"), capability.chain(spelling)), fc.constantFrom("CAP_FLY", "ALL", "*", "7", "~"));

/** A `privileges:` mapping's fields, any left out or, now and then, given an odd value. */
const allowanceFields = fc.record(
  {
    user: mostly(fc.constantFrom("root", "non-root"), fc.constantFrom("nobody", "0", "~")),
    capabilities: fc.array(grant, { maxLength: 6 }),
    devices: mostly(fc.subarray<string>([...DOCKER_DEVICES]), fc.constant<string[]>(["/dev/sda"])),
    network: mostly(fc.constantFrom("true", "false"), fc.constantFrom("yes", "1")),
    everything: mostly(fc.constant(undefined), fc.constant("true")),
  },
  { requiredKeys: [] },
);
type AllowanceFields = typeof allowanceFields extends fc.Arbitrary<infer T> ? T : never;

/** The mapping in flow style. */
function flow(fields: AllowanceFields): string {
  const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
  return `{ ${entries.map(([key, value]) => `${key}: ${Array.isArray(value) ? `[${value.join(", ")}]` : value}`).join(", ")} }`;
}
const allowanceText = allowanceFields.map(flow);

/** Independently of kto's code: whether `allowance` allows all that `ask` wants. */
function allows(allowance: PrivilegeAllowance, ask: Pick<DockerJob, "user" | "capabilities" | "devices" | "network">): boolean {
  return (
    (allowance.user === "root" || !(ask.user ?? "65534:65534").startsWith("0:")) &&
    (ask.capabilities ?? []).every((c) => allowance.capabilities.includes(c)) &&
    (ask.devices ?? []).every((d) => allowance.devices.includes(d)) &&
    (!ask.network || allowance.network)
  );
}

/** The capabilities a policy text names one by one, as they are spelled there. */
function named(text: string): Set<string> {
  const list = /capabilities: \[([^\]]*)\]/.exec(text)?.[1] ?? "";
  return new Set(list.split(", ").flatMap((word) => normaliseCapability(word) ?? []));
}

const suiteAsks = fc.record({
  user: fc.constantFrom(undefined, "root", "root", "1000", '"0:5"', "65534"),
  capabilities: fc.option(fc.array(capability, { maxLength: 3 }), { nil: undefined }),
  devices: fc.option(fc.subarray([...DOCKER_DEVICES]), { nil: undefined }),
  network: fc.boolean(),
  matrix: fc.integer({ min: 1, max: 3 }),
});

const headText = fc.tuple(fc.array(suiteAsks, { minLength: 1, maxLength: 4 }), fc.option(allowanceText, { nil: undefined })).map(([suites, own]) => {
  const lines = ["version: 1", "suites:"];
  suites.forEach((asks, index) => {
    lines.push(`  - name: s${index}`, "    runner: docker", "    image: i", "    command: x", `    network: ${asks.network}`);
    lines.push(`    matrix: { v: [${Array.from({ length: asks.matrix }, (_, v) => v).join(", ")}] }`);
    if (asks.user) lines.push(`    user: ${asks.user}`);
    // Capabilities reach only root: anything else is a schema error, not what this is about.
    if (asks.capabilities && (asks.user === "root" || asks.user === '"0:5"')) lines.push(`    capabilities: [${asks.capabilities.join(", ")}]`);
    if (asks.devices) lines.push(`    devices: [${asks.devices.join(", ")}]`);
  });
  // The head's own privileges: the base's word, so of no weight here.
  if (own) lines.push(`privileges: ${own}`);
  return `${lines.join("\n")}\n`;
});

const FIELD = /^suites\[\d+\]\.(user|network|capabilities\[\d+\]|devices\[\d+\])$/;

describe("privileges under arbitrary asks and grants", () => {
  it("a base branch's privileges let through only the head's suites they allow, and refuse the rest at their fields", () => {
    fc.assert(
      fc.property(headText, allowanceText, (head, baseAllowance) => {
        let loaded, base;
        try {
          loaded = parseConfig(head);
          base = parseConfig(`version: 1\nsuites: [{ name: b, runner: docker, image: i, command: x }]\nprivileges: ${baseAllowance}\n`).config.privileges!;
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          return;
        }
        const specs = buildPlan(loaded).jobs;
        const { allowed, refused } = narrowToBase(loaded, specs, base);
        const lines = head.split("\n").length;
        for (const spec of specs) {
          if (spec.runner !== "docker") continue;
          expect(allowed.includes(spec)).toBe(allows(base, spec));
        }
        for (const issue of refused) {
          expect(issue.path).toMatch(FIELD);
          expect(issue.line).toBeGreaterThanOrEqual(3);
          expect(issue.line).toBeLessThanOrEqual(lines);
          expect(issue.message).toContain("privileges in the base branch's .github/kto.yml");
        }
        expect(refused.length > 0).toBe(allowed.length < specs.length);
      }),
      { numRuns: 400 },
    );
  });

  it("a host's policy grants a job only what it allows, and a capability that reaches past the container only by name", () => {
    // Half the capabilities asked for are among those the policy names, so that grants happen as often as refusals.
    const askUnder = (fields: AllowanceFields) => {
      const listed = (fields.capabilities ?? []).flatMap((word) => normaliseCapability(word) ?? []);
      return fc.record({
        user: fc.constantFrom(undefined, "0:0", "1000:1000", "0:7"),
        capabilities: fc.array(listed.length ? fc.oneof(capability, fc.constantFrom(...listed)) : capability, { maxLength: 2 }),
        devices: fc.subarray([...DOCKER_DEVICES]),
        network: fc.boolean(),
      });
    };
    fc.assert(
      fc.property(
        allowanceFields.chain((fields) => fc.tuple(fc.constant(fields), askUnder(fields))),
        ([fields, asks]) => {
          const text = `version: 1\nprivileges: ${flow(fields)}\n`;
          let policy;
          try {
            policy = parseHostPolicy(text, "/etc/kto/policy.yml");
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
            for (const issue of error.issues) expect(issue).toMatchObject({ file: "/etc/kto/policy.yml", line: 2 });
            return;
          }
          const spec = job({ ...asks, capabilities: [...new Set(asks.capabilities)] });
          let granted;
          try {
            granted = grantPrivileges(spec, policy);
          } catch (error) {
            if (!(error instanceof PrivilegeRefusedError)) throw error;
            expect(allows(policy.privileges, spec)).toBe(false);
            expect(error.message).toContain("/etc/kto/policy.yml");
            return;
          }
          expect(allows(policy.privileges, spec)).toBe(true);
          expect(granted).toEqual({ user: spec.user ?? "65534:65534", capabilities: spec.capabilities, devices: spec.devices, network: spec.network });
          for (const capability of granted.capabilities) {
            if (CAPABILITY_REACH[capability]) expect(named(text).has(capability)).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
