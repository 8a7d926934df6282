import { describe, expect, it } from "@jest/globals";
import { readKconfig, unmetOptions } from "../../src/runners/build/config-check.js";

const FINAL = `#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_64BIT=y
CONFIG_KUNIT=y
# CONFIG_KUNIT_TEST is not set
CONFIG_NR_CPUS=8
CONFIG_CMDLINE="console=ttyS0"
CONFIG_EXT4_FS=m
`;

describe("the final .config against the options asked for", () => {
  it("reads values, and a symbol said not to be set as n", () => {
    expect(Object.fromEntries(readKconfig(FINAL))).toEqual({
      CONFIG_64BIT: "y",
      CONFIG_KUNIT: "y",
      CONFIG_KUNIT_TEST: "n",
      CONFIG_NR_CPUS: "8",
      CONFIG_CMDLINE: '"console=ttyS0"',
      CONFIG_EXT4_FS: "m",
    });
  });

  it("warns of each option the .config lacks or holds otherwise, naming where it was asked for", () => {
    const unmet = unmetOptions(
      [
        { name: "CONFIG_KUNIT", value: "y", source: "config[1]" },
        { name: "CONFIG_KUNIT_TEST", value: "y", source: "kernel/configs/kunit.config" },
        { name: "CONFIG_KUINT_EXAMPLE_TEST", value: "y", source: "config[3]" },
        { name: "CONFIG_EXT4_FS", value: "y", source: "config[4]" },
        { name: "CONFIG_NR_CPUS", value: "8", source: "config[5]" },
      ],
      FINAL,
    );
    expect(unmet.map((u) => u.message)).toEqual([
      "CONFIG_KUNIT_TEST=y was asked for (kernel/configs/kunit.config) but the final .config has it not set: a dependency is unmet",
      "CONFIG_KUINT_EXAMPLE_TEST=y was asked for (config[3]) but the final .config does not have it: a dependency is unmet or the name is misspelt",
      "CONFIG_EXT4_FS=y was asked for (config[4]) but the final .config has CONFIG_EXT4_FS=m: a dependency limits it",
    ]);
    expect(unmet.map((u) => u.actual)).toEqual(["n", null, "m"]);
  });

  it("takes the last request for a symbol, and counts an absent symbol as the n asked for", () => {
    const unmet = unmetOptions(
      [
        { name: "CONFIG_KUNIT_TEST", value: "y", source: "kernel/configs/kunit.config" },
        { name: "CONFIG_KUNIT_TEST", value: "n", source: "config[2]" },
        { name: "CONFIG_SOUND", value: "n", source: "config[3]" },
      ],
      FINAL,
    );
    expect(unmet).toEqual([]);
  });
});
