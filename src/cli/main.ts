import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "../config/errors.js";
import { parseCommand } from "./commands/parse.js";
import { bisectCommand } from "./commands/bisect.js";
import { compareCommand } from "./commands/compare.js";
import { planCommand } from "./commands/plan.js";
import { runCommand } from "./commands/run.js";
import { buildCommand } from "./commands/build.js";
import { validateCommand } from "./commands/validate.js";
import { statusCommand } from "./commands/status.js";
import { gcCommand } from "./commands/gc.js";
import { appCommand } from "./commands/app.js";
import { hostCleanupCommand, hostLabelsCommand, hostRegisterCommand } from "./commands/host.js";
import { EXIT, UsageError } from "./exit-codes.js";
import { printErr, printOut } from "./terminal.js";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Entry point of the `kto` binary; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name("kto")
    .description("Kernel test orchestrator: run kernel and system tests in Docker or QEMU")
    .exitOverride()
    .configureOutput({ writeOut: (text) => printOut(text), writeErr: (text) => printErr(text) })
    .showHelpAfterError("(run kto --help for usage)");

  program
    .command("run")
    .description("run the plan of a config file on this machine")
    .argument("[file]", "config file", ".github/kto.yml")
    .option("-s, --suite <name>", "run only this suite (repeatable)", collect, [])
    .option("-o, --out <dir>", "results folder", "kto-results")
    .option("-j, --jobs <n>", "jobs at once", "1")
    .option("-w, --workspace <dir>", "directory the jobs see at /workspace", ".")
    .addOption(new Option("--progress <mode>", "progress display").choices(["auto", "live", "plain"]).default("auto"))
    .option("--resume [run]", "continue an interrupted run (the last one, or this run id) from the store")
    .option("--known <file>", "known issues (.github/kto-known.yml): failures they cover do not fail the run")
    .option("--baseline <dir>", "a baseline run's results folder: fail on regressions only, as kto compare judges")
    .action(async (file: string, options) => {
      exitCode = await runCommand(file, options);
    });

  program
    .command("build")
    .description("build the config's kernels on this machine, alone (exit 1 when one fails to build, 2 on a config error)")
    .argument("[file]", "config file", ".github/kto.yml")
    .option("-b, --build <name>", "only this build (repeatable)", collect, [])
    .option("-t, --tree <dir>", "the kernel tree to build", ".")
    .option("-o, --out <dir>", "where each build's outputs go, in a folder of its own", "kto-builds")
    .addOption(new Option("--progress <mode>", "progress display").choices(["auto", "live", "plain"]).default("auto"))
    .action(async (file: string, options) => {
      exitCode = await buildCommand(file, options);
    });

  program
    .command("validate")
    .description("check a config file and print every problem with its line")
    .argument("[file]", "config file", ".github/kto.yml")
    .action(async (file: string) => {
      exitCode = await validateCommand(file);
    });

  program
    .command("plan")
    .description("print the jobs a config file makes")
    .argument("[file]", "config file", ".github/kto.yml")
    .option("-s, --suite <name>", "only this suite (repeatable)", collect, [])
    .option("--json", "print the jobs as JSON")
    .action(async (file: string, options) => {
      exitCode = await planCommand(file, options);
    });

  program
    .command("app")
    .description("run the kto GitHub App (settings from the environment or .env; see .env.example)")
    .option("--drain <seconds>", "on SIGTERM, how long running jobs may finish", "30")
    .action(async (options) => {
      exitCode = await appCommand(options);
    });

  const host = program.command("host").description("runner host tools: hardware labels, just-in-time registration, cleanup");
  host
    .command("labels")
    .description("print this host's runner labels (architecture, kvm, CPU and memory classes, GPUs, its unique kto-runner-<name>)")
    .option("--name <name>", "runner name for the unique label (default: the hostname)")
    .option("--json", "labels with the facts behind them")
    .action(async (options) => {
      exitCode = await hostLabelsCommand(options);
    });
  host
    .command("register")
    .description(
      "register one ephemeral runner through the kto App: with --runner-dir, by config.sh with the registration token the App holds (kto-runner-host.sh's default); else just in time, printing its config (which the runner takes in ACTIONS_RUNNER_INPUT_JITCONFIG) (secret: KTO_RUNNER_REGISTRATION_SECRET)",
    )
    .option("--app-url <url>", "the App's public URL (default KTO_APP_URL)")
    .option("--repository <owner/name>", "register for a repository (default KTO_RUNNER_REPOSITORY)")
    .option("--organization <name>", "register for an organisation (default KTO_RUNNER_ORGANIZATION)")
    .option("--name <name>", "runner name (default: hostname and a random suffix)")
    .option("--label <label>", "an extra label (repeatable)", collect, [])
    .option("--group <id>", "runner group id", "1")
    .option("--runner-dir <dir>", "the Actions runner directory whose config.sh registers the runner with a registration token")
    .action(async (options) => {
      exitCode = await hostRegisterCommand(options);
    });
  host
    .command("cleanup")
    .description("remove containers and processes left by kto processes that are gone (the job-completed hook)")
    .action(async () => {
      exitCode = await hostCleanupCommand();
    });

  program
    .command("status")
    .description("jobs and runners in kto's store (KTO_DATA_DIR, default .kto)")
    .option("--json", "counts, runners, per-label depth and histograms as JSON")
    .action(async (options) => {
      exitCode = await statusCommand(options);
    });

  program
    .command("gc")
    .description("prune finished runs and their results folders")
    .option("--older-than <duration>", "age to keep (default KTO_RETENTION or 30d)")
    .action(async (options) => {
      exitCode = await gcCommand(options);
    });

  program
    .command("parse")
    .description("read KTAP, TAP or JUnit results and summarise them")
    .argument("<file>", "results or console log; - for standard input")
    .addOption(new Option("-f, --format <format>", "input format").choices(["auto", "ktap", "tap", "junit"]).default("auto"))
    .option("--json", "print {format, status, counts, tests} as JSON")
    .option("--junit", "print JUnit XML")
    .action(async (file: string, options) => {
      exitCode = await parseCommand(file, options);
    });

  program
    .command("compare")
    .description("classify HEAD's test results against BASE's: regressions, still failing, flaky, known, new tests, fixed")
    .argument("<base>", "the baseline's results folder or results.json")
    .argument("<head>", "the results folder or results.json to judge")
    .option("--json", "print the classification as data, each test with its identity and class")
    .option("--known <file>", "known issues (default .github/kto-known.yml when present)")
    .option("--history <dir...>", "more results of the base branch: a test that passed in one and failed in another is flaky")
    .action(async (base: string, head: string, options) => {
      exitCode = await compareCommand(base, head, options);
    });

  program
    .command("bisect")
    .description("find the commit that broke a test: run the suites at commits between a good and a bad one, each in a worktree of its own")
    .argument("[file]", "config file (read from the checkout as it is, for every commit)", ".github/kto.yml")
    .requiredOption("--good <rev>", "a commit where the test passes")
    .requiredOption("--bad <rev>", "a later commit where it fails")
    .option("-s, --suite <name>", "run only this suite (repeatable)", collect, [])
    .option("-t, --test <pattern>", "judge by the tests this glob names (job › path › name, or the path alone), not by the suites failing")
    .option("--runs <n>", "runs per commit; more when they disagree, up to 2n+1", "1")
    .option("--json", "print the outcome as data: first_bad, confidence, steps, skipped (and candidates)")
    .option("--resume", "continue an interrupted bisection, given the same arguments")
    .action(async (file: string, options) => {
      exitCode = await bisectCommand(file, options);
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      printErr(`${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      printErr(`kto: ${error.message}\n`);
      return EXIT.usage;
    }
    printErr(`kto: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failed;
  }
}
