import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["lib/**", "dist/**", "node_modules/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: { globals: globals.node },
  },
  {
    // Imports go one way (docs/architecture.md, "Which way imports go"): the config, the
    // orchestrator and the executor code know nothing of GitHub, of what runs them, or of
    // each other beyond the config.
    files: ["src/config/**", "src/orchestrator/**", "src/runners/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["probot", "probot/*", "@octokit/*", "@actions/*"], message: "GitHub belongs in src/app and src/action" },
            {
              regex: "^(\\.\\./)+(orchestrator|runners|app|action|cli)/",
              message: "src/config, src/orchestrator and src/runners import no other folder but src/config",
            },
          ],
        },
      ],
    },
  },
  {
    // What the CLI prints may hold a test's or a config's escape sequences: it prints through
    // src/cli/terminal.ts, which makes them inert.
    files: ["src/cli/**"],
    ignores: ["src/cli/terminal.ts"],
    rules: {
      "no-console": "error",
      "no-restricted-properties": [
        "error",
        ...["stdout", "stderr"].map((property) => ({ object: "process", property, message: "print through src/cli/terminal.ts" })),
      ],
      "no-restricted-imports": ["error", { paths: [{ name: "log-update", message: "use liveRegion from src/cli/terminal.ts" }] }],
    },
  },
  {
    // A line the action prints that holds `::` or `##[` can be a workflow command to the
    // runner: text goes to the log through src/action/workflow-log.ts. Runners print nothing:
    // they report through their events, and run under the action as well as the CLI.
    files: ["src/action/**", "src/runners/**"],
    ignores: ["src/action/workflow-log.ts"],
    rules: {
      "no-console": "error",
      "no-restricted-properties": [
        "error",
        ...["stdout", "stderr"].map((property) => ({ object: "process", property, message: "print through src/action/workflow-log.ts" })),
        { object: "core", property: "info", message: "print through src/action/workflow-log.ts" },
      ],
    },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
);
