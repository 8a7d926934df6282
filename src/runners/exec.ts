import { execa } from "execa";
import { OutputCapture, type CapturedOutput } from "./captured-output.js";

/** Process groups still running, killed if kto itself exits first. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const pid of liveGroups) killGroup(pid);
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  streamCapBytes?: number;
  /** Bytes written to the child's stdin, which is closed after them; none by default. */
  input?: Buffer;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export interface SpawnResult {
  exitCode: number | null;
  signal: string | null;
  stdout: CapturedOutput;
  stderr: CapturedOutput;
  startedAt: Date;
  finishedAt: Date;
}

export interface SpawnedProcess {
  pid: number;
  /** Kills the whole process group; safe to call more than once. */
  kill(): void;
  done: Promise<SpawnResult>;
}

/**
 * The one way kto starts a child: argv, never a shell string; its own process group,
 * killed as a group; each stream kept up to a cap.
 */
export function spawnProcess(file: string, args: readonly string[], options: SpawnOptions = {}): SpawnedProcess {
  installExitHook();
  const stdout = new OutputCapture(options.streamCapBytes);
  const stderr = new OutputCapture(options.streamCapBytes);
  const startedAt = new Date();
  const child = execa(file, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: options.env === undefined,
    detached: true,
    reject: false,
    buffer: false,
    ...(options.input ? { input: options.input } : { stdin: "ignore" as const }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const pid = child.pid ?? -1;
  if (pid > 0) liveGroups.add(pid);
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout.write(chunk);
    options.onStdout?.(chunk);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr.write(chunk);
    options.onStderr?.(chunk);
  });
  const done = child.then((result) => {
    liveGroups.delete(pid);
    return {
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      stdout: stdout.result(),
      stderr: stderr.result(),
      startedAt,
      finishedAt: new Date(),
    };
  });
  return {
    pid,
    kill: () => {
      if (pid > 0) killGroup(pid);
    },
    done,
  };
}

/** Runs a short command to its end: its stdout when it exits 0, else null (not installed, or it failed). */
export async function commandOutput(
  file: string,
  args: readonly string[],
  options: Pick<SpawnOptions, "env" | "input" | "streamCapBytes"> = {},
): Promise<{ stdout: Buffer; truncated: boolean } | null> {
  const result = await spawnProcess(file, args, options).done;
  if (result.exitCode !== 0) return null;
  return { stdout: result.stdout.data, truncated: result.stdout.truncated };
}
