import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { DockerExecutor } from "../../runners/docker-executor.js";
import { labelsForHost, readHostFacts, runnerNameOf } from "../../runners/host-labels.js";
import { killMarkedProcesses, ownerIsGone } from "../../runners/leftovers.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { printErr, printOut } from "../terminal.js";
import { buildStoreDir, pruneOutputs } from "../../runners/build/output-store.js";
import { configureRunner, parseGrant, TokenRegistrationError } from "./token-registration.js";

export async function hostLabelsCommand(options: { name?: string; json?: boolean }): Promise<number> {
  const host = labelsForHost(await readHostFacts(), { name: options.name });
  if (options.json) printOut(`${JSON.stringify(host, null, 2)}\n`);
  else {
    // Labels on stdout for scripts; why a guest runs as it does on stderr, for people.
    printOut(`${host.labels.join(",")}\n`);
    for (const guest of host.guests) printErr(`kto: ${guest.arch} guests: ${guest.accelerator ? guest.detail : `cannot boot (${guest.detail})`}\n`);
  }
  return EXIT.ok;
}

interface RegisterOptions {
  appUrl?: string;
  repository?: string;
  organization?: string;
  name?: string;
  label: string[];
  group: string;
  /** Register with a registration token and config.sh in this runner directory, instead of just in time. */
  runnerDir?: string;
}

/**
 * Registers one ephemeral runner through the kto App. Just in time, it prints the runner's
 * config, which the Actions runner takes from ACTIONS_RUNNER_INPUT_JITCONFIG: a request to
 * GitHub per runner. With --runner-dir it gets the registration token the App holds for
 * the repository or organisation (a request an hour), registers the runner there with
 * config.sh and tells the App its id. The secret comes from the environment, never the
 * command line, where other users of the host could read it.
 */
export async function hostRegisterCommand(options: RegisterOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const appUrl = options.appUrl ?? env.KTO_APP_URL;
  const secret = env.KTO_RUNNER_REGISTRATION_SECRET;
  const repository = options.repository ?? env.KTO_RUNNER_REPOSITORY;
  const organization = options.organization ?? env.KTO_RUNNER_ORGANIZATION;
  if (!appUrl) throw new UsageError("--app-url (or KTO_APP_URL): the kto App's public URL");
  if (!secret) throw new UsageError("KTO_RUNNER_REGISTRATION_SECRET: the secret set on the App");
  if (!repository === !organization)
    throw new UsageError("give --repository owner/name or --organization name (or KTO_RUNNER_REPOSITORY / KTO_RUNNER_ORGANIZATION)");
  // A fresh name per registration: a host that died mid-job leaves its old runner behind.
  const name = runnerNameOf(options.name ?? `${hostname()}-${randomBytes(3).toString("hex")}`);
  const host = labelsForHost(await readHostFacts(), { name });
  const labels = [...new Set([...host.labels, ...options.label])];
  const registration = { ...(repository ? { repository } : { organization }), name, labels, runner_group_id: Number(options.group) };
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${appUrl.replace(/\/$/, "")}/kto/api/runners/${route}`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    // A body that is not JSON (a proxy's error page) leaves the status to say what went wrong.
    return { status: response.status, ok: response.ok, body: (await response.json().catch(() => ({}))) as Record<string, unknown> };
  };
  const refused = (answer: { status: number; body: Record<string, unknown> }) => {
    printErr(`kto: the App refused the registration (${answer.status}): ${typeof answer.body.message === "string" ? answer.body.message : "no message"}\n`);
    return EXIT.failed;
  };
  if (options.runnerDir) {
    const granted = await post("registration-token", registration);
    if (!granted.ok) return refused(granted);
    let runnerId: number;
    try {
      runnerId = await configureRunner(options.runnerDir, parseGrant(granted.body), env);
    } catch (error) {
      if (!(error instanceof TokenRegistrationError)) throw error;
      printErr(`kto: registering runner ${name} failed: ${error.message}\n`);
      return EXIT.failed;
    }
    const recorded = await post("registered", { ...registration, runner_id: runnerId });
    if (!recorded.ok) return refused(recorded);
    printErr(`kto: registered runner ${name} (id ${runnerId}) with labels ${labels.join(",")}\n`);
    return EXIT.ok;
  }
  const answer = await post("jitconfig", registration);
  if (!answer.ok || typeof answer.body.encodedJitConfig !== "string") return refused(answer);
  printErr(`kto: registered runner ${name} (id ${String(answer.body.runnerId)}) with labels ${labels.join(",")}\n`);
  printOut(`${answer.body.encodedJitConfig}\n`);
  return EXIT.ok;
}

/**
 * What a job-completed hook runs: removes containers and processes of kto processes on this
 * host that are gone, and the build outputs no job has used for a week.
 */
export async function hostCleanupCommand(): Promise<number> {
  let containers = 0;
  try {
    containers = await new DockerExecutor().sweepOrphans();
  } catch {
    // no Docker engine on this host: nothing of kto's can be left there
  }
  const processes = await killMarkedProcesses(ownerIsGone);
  printOut(`kto: removed ${containers} leftover container${containers === 1 ? "" : "s"} and ${processes} leftover process${processes === 1 ? "" : "es"}\n`);
  const outputs = await pruneOutputs(buildStoreDir());
  if (outputs > 0) printOut(`kto: removed ${outputs} build output${outputs === 1 ? "" : "s"} no job used for a week\n`);
  return EXIT.ok;
}
