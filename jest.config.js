/** ESM all the way: the fixed packages (execa, @actions/*, probot) ship ESM only. */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  transform: {
    "^.+\\.ts$": ["ts-jest", { useESM: true, tsconfig: "tsconfig.json" }],
  },
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  // Docker and QEMU tests share one daemon and two cores: run files one after another.
  maxWorkers: 1,
  testTimeout: 120000,
  verbose: false,
  // A failed end-to-end test can leave its App, servers or child processes behind; the
  // run must still end, with its failures printed, rather than wait on them.
  forceExit: true,
  globalSetup: "<rootDir>/test/setup/global-setup.mjs",
  reporters: ["default", "<rootDir>/test/reporters/plain-summary.cjs"],
};
