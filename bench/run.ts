import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import type { DockerJob, QemuJob } from "../src/config/job-spec.js";
import { writeCpio } from "../src/runners/cpio.js";
import { DockerExecutor } from "../src/runners/docker-executor.js";
import { detectHost } from "../src/runners/host-capabilities.js";
import { QemuExecutor } from "../src/runners/qemu-executor.js";
import { compare, table, type Comparison } from "./measure.js";
import { webhookBenchmark } from "./app-bench.js";
import { buildBenchmarks } from "./build-bench.js";
import { githubSpendBenchmark } from "./github-bench.js";
import { historyQueryBenchmark } from "./history-bench.js";
import { parserScalingBenchmark } from "./parsers-bench.js";
import { makespanBenchmark, memoryBenchmark, schedulingBenchmark } from "./orchestrator-bench.js";

const RUNS = Number(process.env.KTO_BENCH_RUNS ?? 5);
const IMAGE = "kto/busybox:1";
const KERNEL = join(process.env.KTO_HOST_DIR ?? "/var/lib/kto", "kernel", "vmlinuz");
const ARM64_KERNEL = join(process.env.KTO_HOST_DIR ?? "/var/lib/kto", "arm64", "kernel", "vmlinuz");
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

const COMMON = {
  id: "bench",
  slug: "bench",
  suite: "bench",
  matrix: {},
  env: {},
  results: "auto" as const,
  labels: [],
  timeoutMs: 300_000,
  retries: 0,
  priority: 2,
  artifacts: [],
  network: false,
  arch: "x86_64" as const,
  idleTimeoutMs: 120_000,
};

function dockerSpec(overrides: Partial<DockerJob>): DockerJob {
  return { ...COMMON, runner: "docker", image: IMAGE, command: "true", ...overrides };
}

function qemuSpec(overrides: Partial<QemuJob>): QemuJob {
  return { ...COMMON, runner: "qemu", kernel: KERNEL, ...overrides };
}

async function dockerBench(dir: string): Promise<Comparison> {
  const runner = new DockerExecutor();
  const command = "echo KTAP version 1; echo 1..1; echo ok 1 bench";
  return compare(
    "DockerExecutor",
    "`docker run --rm` of the same image and command",
    RUNS,
    () => runner.execute(dockerSpec({ command }), { workspace: dir, jobDir: join(dir, "docker-job") }),
    () => execa("docker", ["run", "--rm", "--network", "none", IMAGE, "/bin/sh", "-c", command]),
    progress,
  );
}

/** A user's own initramfs: busybox and an init that prints one KTAP result and powers off. */
async function bootsInitramfs(path: string, busybox: string): Promise<void> {
  await writeFile(
    path,
    writeCpio([
      { kind: "dir", path: "bin" },
      { kind: "file", path: "bin/busybox", data: await readFile(busybox), mode: 0o755 },
      ...["sh", "echo", "poweroff"].map((a) => ({ kind: "symlink" as const, path: `bin/${a}`, target: "busybox" })),
      { kind: "file", path: "init", data: Buffer.from("#!/bin/sh\necho 'KTAP version 1'; echo 1..1; echo ok 1 boots\npoweroff -f\n"), mode: 0o755 },
    ]),
  );
}

async function qemuBench(dir: string): Promise<Comparison[]> {
  const host = await detectHost("x86_64");
  if (!host.qemuBinary || !host.busybox) throw new Error("qemu-system-x86_64 and busybox are needed: run self-hosted/provision.sh");
  const initramfs = join(dir, "initramfs.cpio");
  await bootsInitramfs(initramfs, host.busybox);
  const runner = new QemuExecutor({ cacheDir: join(dir, "cache") });
  const bare = () =>
    execa(host.qemuBinary!, [
      "-kernel",
      KERNEL,
      "-initrd",
      initramfs,
      "-append",
      "console=ttyS0 panic=-1",
      "-nographic",
      "-no-reboot",
      "-m",
      "512M",
      ...(host.kvm ? ["-enable-kvm"] : []),
    ]);
  const userMode = await compare(
    "QemuExecutor, the user's initramfs",
    "bare `qemu-system-x86_64 -kernel bzImage -initrd …` (the obvious invocation)",
    RUNS,
    () => runner.execute(qemuSpec({ kernel: KERNEL, initramfs }), { workspace: dir, jobDir: join(dir, "qemu-job") }),
    bare,
    progress,
  );
  const guestMode = await compare(
    "QemuExecutor, kto's guest mode (9p workspace, command, exit status)",
    "the same bare boot, which mounts nothing and runs no command",
    RUNS,
    () => runner.execute(qemuSpec({ kernel: KERNEL, command: "echo ok" }), { workspace: dir, jobDir: join(dir, "guest-job") }),
    bare,
    progress,
  );
  // Same boot path on both sides: what kto itself adds (spawn, console capture, /proc sampling).
  const standard = new QemuExecutor({ cacheDir: join(dir, "cache"), standardBoot: true });
  const overhead = await compare(
    "QemuExecutor forced to the standard boot (kto's own overhead)",
    "the same bare boot",
    RUNS,
    () => standard.execute(qemuSpec({ kernel: KERNEL, initramfs }), { workspace: dir, jobDir: join(dir, "standard-job") }),
    bare,
    progress,
  );
  return [userMode, { ...guestMode, goal: "—" }, overhead];
}

async function arm64Bench(dir: string): Promise<Comparison[]> {
  const host = await detectHost("arm64");
  if (!host.qemuBinary || !host.busybox) throw new Error("qemu-system-aarch64 and an arm64 busybox are needed: run self-hosted/provision.sh");
  const initramfs = join(dir, "initramfs-arm64.cpio");
  await bootsInitramfs(initramfs, host.busybox);
  const runner = new QemuExecutor({ cacheDir: join(dir, "cache") });
  const bare = (cpu: string) => () =>
    execa(host.qemuBinary!, [
      "-M",
      "virt",
      "-cpu",
      cpu,
      "-kernel",
      ARM64_KERNEL,
      "-initrd",
      initramfs,
      "-append",
      "console=ttyAMA0 panic=-1",
      "-nographic",
      "-no-reboot",
      "-m",
      "512M",
      ...(host.kvm ? ["-accel", "kvm"] : []),
    ]);
  const job = () => runner.execute(qemuSpec({ arch: "arm64", kernel: ARM64_KERNEL, initramfs }), { workspace: dir, jobDir: join(dir, "arm64-job") });
  const obvious = await compare(
    "QemuExecutor, arm64, the user's initramfs",
    "bare `qemu-system-aarch64 -M virt -cpu max -kernel Image -initrd …`",
    RUNS,
    job,
    bare(host.kvm ? "host" : "max"),
    progress,
  );
  const same = await compare(
    "QemuExecutor, arm64 (kto's own overhead)",
    `the same bare boot with kto's CPU model (${host.kvm ? "host" : "cortex-a57"})`,
    RUNS,
    job,
    bare(host.kvm ? "host" : "cortex-a57"),
    progress,
  );
  const guest = await compare(
    "QemuExecutor, arm64, kto's guest mode (9p workspace, command, exit status)",
    "the same bare boot with kto's CPU model, which mounts nothing and runs no command",
    RUNS,
    () => runner.execute(qemuSpec({ arch: "arm64", kernel: ARM64_KERNEL, command: "echo ok" }), { workspace: dir, jobDir: join(dir, "arm64-guest-job") }),
    bare(host.kvm ? "host" : "cortex-a57"),
    progress,
  );
  return [obvious, same, { ...guest, goal: "—" }];
}

async function runnerBenchmarks(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "kto-bench-"));
  await chmod(dir, 0o755);
  try {
    const rows = [await dockerBench(dir), ...(await qemuBench(dir)), ...(await arm64Bench(dir))];
    return `## Runners (${RUNS} runs each, medians of wall time)\n\n${table(rows)}\n`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function orchestratorBenchmarks(): Promise<string> {
  const { kto, naive } = await schedulingBenchmark(progress);
  const makespan = await makespanBenchmark(progress);
  progress("memory: two fresh processes holding 10,000 queued jobs");
  const memory = memoryBenchmark();
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
  const hours = (ms: number) => `${(ms / 3_600_000).toFixed(2)} h`;
  return [
    "## Orchestrator",
    "",
    "| benchmark | kto | baseline | ratio | goal |",
    "|---|---|---|---|---|",
    `| scheduling: decisions per second (10,000 jobs, 500 runners, 8 label sets) | ${kto.perSecond.toFixed(0)}/s | ${naive.perSecond.toFixed(0)}/s (naive in-memory scan) | ${(kto.perSecond / naive.perSecond).toFixed(2)} | ≥ 10,000/s |`,
    `| scheduling: p99 decision latency | ${kto.p99Ms.toFixed(3)} ms | ${naive.p99Ms.toFixed(3)} ms | ${(kto.p99Ms / naive.p99Ms).toFixed(2)} | ≤ 0.5 ms |`,
    `| makespan of a simulated day (${makespan.jobs} jobs) | ${hours(makespan.makespanMs)} | ${hours(makespan.lowerBoundMs)} (lower bound: work per label set / capacity) | ${(makespan.makespanMs / makespan.lowerBoundMs).toFixed(3)} | ≤ 1.01 |`,
    `| peak RSS with 10,000 queued jobs | ${mib(memory.ktoBytes)} | ${mib(memory.naiveBytes)} (the jobs in an array) | ${(memory.ktoBytes / memory.naiveBytes).toFixed(2)} | ≤ 128 MiB |`,
    "",
    `kto decided ${kto.decisions} dispatches, the baseline ${naive.decisions}; kto's figure includes the durable store transaction each scheduling pass commits its decisions in.`,
    "",
  ].join("\n");
}

async function appBenchmarks(): Promise<string> {
  const { kto, baseline, peakRssBytes } = await webhookBenchmark(progress);
  const rows = kto.map((k, i) => {
    const b = baseline[i]!;
    return `| webhook → queued check run request, ${k.rate} events/s (${k.events} events) | p50 ${k.p50Ms.toFixed(1)} ms, p99 ${k.p99Ms.toFixed(1)} ms | p50 ${b.p50Ms.toFixed(1)} ms, p99 ${b.p99Ms.toFixed(1)} ms (bare Probot handler) | ${(k.p50Ms / b.p50Ms).toFixed(2)} |`;
  });
  return [
    "## GitHub App",
    "",
    "| benchmark | kto | baseline | ratio (p50) |",
    "|---|---|---|---|",
    ...rows,
    "",
    `Peak RSS of the benchmark process (App, double and load together): ${(peakRssBytes / 1024 / 1024).toFixed(0)} MiB.`,
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? "all";
  const sections: string[] = [];
  if (which === "all" || which === "runners") sections.push(await runnerBenchmarks());
  if (which === "all" || which === "orchestrator") sections.push(await orchestratorBenchmarks());
  if (which === "all" || which === "app") sections.push(await appBenchmarks());
  if (which === "all" || which === "parsers") sections.push(parserScalingBenchmark(progress));
  if (which === "all" || which === "build") sections.push(await buildBenchmarks(progress));
  if (which === "all" || which === "github") sections.push(await githubSpendBenchmark(progress));
  if (which === "all" || which === "history") sections.push(await historyQueryBenchmark(progress));
  if (sections.length === 0) throw new Error(`unknown benchmark group "${which}": use runners, orchestrator, app, parsers, build, github or all`);
  process.stdout.write(`\n# kto benchmarks\n\n${sections.join("\n")}\n`);
}

await main();
