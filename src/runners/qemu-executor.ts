import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { QemuJob } from "../config/job-spec.js";
import { demoteToTcg, type AcceleratorChoice } from "./accelerator-probe.js";
import { checkDiskImage, writeDiskOverlay } from "./disk-image.js";
import { JobInputError, QemuHostError, QemuUnavailableError } from "./errors.js";
import { baseInitramfs, jobInitramfs, locateModules, RESULTS_TAG, WORKSPACE_TAG } from "./guest-initramfs.js";
import { GUEST_MACHINES, machineFor, qemuBinaryName, type Accelerator, type GuestArch } from "./guest-arch.js";
import { defaultCacheDir, detectHost, measuredOn, type HostCapabilities } from "./host-capabilities.js";
import { extractVmlinux, MAX_VMLINUX_BYTES } from "./kernel-image.js";
import { bootGuest } from "./qemu-boot.js";
import { BuildHandoffError, checkBuildOutputs, namedOutput, unpackModules } from "./build/build-handoff.js";
import { kernelAppend, qemuArgs, type QemuInvocation } from "./qemu-args.js";
import { confinedInput, stagedInput } from "./qemu-inputs.js";
import type { BootInfo, BuildOutputs, Execution, RunContext, Executor } from "./types.js";

export const DEFAULT_VM_MEMORY = 512 * 1024 * 1024;

export interface QemuExecutorOptions {
  /** Capabilities per guest architecture, when the caller knows them (tests, benchmarks). */
  hosts?: Partial<Record<GuestArch, HostCapabilities>>;
  cacheDir?: string;
  /** Boot the way most users write it (bzImage, SeaBIOS); for comparisons and odd kernels. */
  standardBoot?: boolean;
  /** How long a KVM guest may print nothing before KVM is judged broken. */
  kvmSilenceMs?: number;
  /** Where KTO_QEMU, KTO_NO_KVM, KTO_KVM_DEVICE and the host's kernel directories are read from. */
  env?: NodeJS.ProcessEnv;
}

interface BootPlan {
  path: "fast" | "standard";
  kernel: string;
  bios?: string;
  detail: string;
}

export class QemuExecutor implements Executor<QemuJob> {
  readonly kind = "qemu" as const;
  private readonly hosts = new Map<GuestArch, Promise<HostCapabilities>>();
  private readonly cacheDir: string;

  constructor(private readonly options: QemuExecutorOptions = {}) {
    this.cacheDir = options.cacheDir ?? defaultCacheDir();
    for (const [arch, host] of Object.entries(options.hosts ?? {})) this.hosts.set(arch as GuestArch, Promise.resolve(host));
  }

  /** What this host can do for `arch`, probed once per process (and cached on disk across them). */
  host(arch: GuestArch = "x86_64"): Promise<HostCapabilities> {
    let host = this.hosts.get(arch);
    if (!host) {
      host = detectHost(arch, { cacheDir: this.cacheDir, env: this.options.env });
      this.hosts.set(arch, host);
      // A probe that failed is not kept: its callers get the error, and the next job probes again.
      host.catch(() => this.hosts.delete(arch));
    }
    return host;
  }

  async execute(job: QemuJob, context: RunContext): Promise<Execution> {
    let host = await this.host(job.arch);
    if (!host.qemuBinary) throw new QemuUnavailableError(qemuBinaryName(job.arch, this.options.env), job.arch);
    const inputs = { workspace: context.workspace, kind: "file" as const };
    const outputs = job.build ? await buildOutputsFor(job, context) : null;
    // A build's kernel and modules come from its outputs, and from nowhere else.
    const kernelFrom = outputs ? { workspace: outputs.dir, roots: [outputs.dir] } : inputs;
    const disk = job.disk ? await checkDiskImage(await confinedInput("disk", job.disk, inputs)) : undefined;
    const workspaceModules = job.modules && !outputs ? await confinedInput("modules", job.modules, { ...inputs, kind: "directory" }) : undefined;
    // Tests built into the kernel (KUnit) need no userspace: the kernel boots alone and ends itself.
    const kernelAlone = !job.initramfs && job.command === undefined && outputs !== null;
    const guestMode = !job.initramfs && !kernelAlone;
    const memoryBytes = job.memoryBytes ?? DEFAULT_VM_MEMORY;

    const resultsDir = join(context.jobDir, "results");
    await mkdir(resultsDir, { recursive: true });
    const temp = await mkdtemp(join(tmpdir(), "kto-vm-"));
    try {
      // QEMU gets kto's copies under fixed names, never a path from the config (see stagedInput).
      const { source: kernelSource, copy: kernel } = await stagedInput("kernel", job.kernel, {
        ...kernelFrom,
        maxBytes: MAX_VMLINUX_BYTES,
        destination: join(temp, "kernel"),
      });
      const modules =
        outputs && job.modules
          ? await unpackModules(join(outputs.dir, namedOutput("modules", job.modules, outputs).path), join(temp, "modules"))
          : workspaceModules;
      // An initramfs larger than the guest's memory could never boot.
      const userInitramfs = job.initramfs
        ? (await stagedInput("initramfs", job.initramfs, { ...inputs, maxBytes: memoryBytes, destination: join(temp, "initrd.img") })).copy
        : undefined;
      context.onProgress?.({ kind: "phase", jobId: job.id, phase: "preparing" });
      const plan = await this.bootPlan(kernel, host);
      if (host.accelerator?.measured === false) {
        host = await measuredOn(host, plan.kernel, plan.bios ?? null, { cacheDir: this.cacheDir, env: this.options.env });
        this.hosts.set(job.arch, Promise.resolve(host));
      }
      // Said before the job pays for a boot: the probe already found that nothing runs here.
      if (host.accelerator && !host.accelerator.bootable) throw new QemuHostError(`this host boots no ${job.arch} guest: ${host.accelerator.detail}`, "tcg");
      const nonce = randomBytes(8).toString("hex");
      let initrd = userInitramfs;
      if (guestMode) {
        if (!host.busybox)
          throw new QemuHostError(`kto's guest mode needs a static busybox for ${job.arch} guests on this host (self-hosted/provision.sh installs it)`, "tcg");
        const base = await baseInitramfs({
          busybox: host.busybox,
          modulesDir: await locateModules(kernelSource, modules ?? undefined),
          cacheDir: this.cacheDir,
        });
        initrd = join(temp, "initramfs.cpio");
        if (job.command === undefined)
          throw new JobInputError(
            "command",
            job.suite,
            "kto's guest mode (no initramfs) runs the suite's command, and it has none; only a build's kernel boots alone",
          );
        await writeFile(initrd, Buffer.concat([await readFile(base.path), jobInitramfs(job.command, job.env, nonce)]));
      }
      const attachedDisk = disk ? { image: disk, overlay: await writeDiskOverlay(disk, temp) } : undefined;
      const machine = GUEST_MACHINES[job.arch];
      const invocation = (accelerator: Accelerator, cpu: string | null): QemuInvocation => ({
        accelerator,
        machine: machineFor(job.arch, accelerator),
        cpu,
        boot: plan.path,
        kernel: plan.kernel,
        initrd,
        append: kernelAppend({ guestMode, console: machine.console, extra: job.append }),
        memoryBytes,
        cpus: job.cpus ?? 1,
        shares: guestMode
          ? [
              { tag: WORKSPACE_TAG, path: resolve(context.workspace), readonly: true },
              { tag: RESULTS_TAG, path: resultsDir, readonly: false },
            ]
          : [],
        disk: attachedDisk,
        qbootRom: plan.bios,
      });
      const boot = (choice: { accelerator: Accelerator; cpu: string | null; detail: string }, timeoutMs: number) =>
        bootGuest({
          job,
          context,
          binary: host.qemuBinary!,
          args: qemuArgs(invocation(choice.accelerator, choice.cpu)),
          boot: bootInfo(plan, machineFor(job.arch, choice.accelerator), choice),
          accelerator: choice.accelerator,
          nonce: guestMode ? nonce : null,
          resultsDir,
          timeoutMs,
          kvmSilenceMs: this.options.kvmSilenceMs,
        });
      const started = Date.now();
      const chosen = acceleratorOf(host);
      try {
        return await boot(chosen, job.timeoutMs);
      } catch (error) {
        // KVM that passed the probe can still fail a real guest: run this job under TCG now,
        // and make TCG this host's choice until the probe's inputs change.
        if (!(error instanceof QemuHostError) || error.accelerator !== "kvm" || !host.accelerator) throw error;
        const demoted = await demoteToTcg(this.cacheDir, host.accelerator, error.message);
        this.hosts.set(job.arch, Promise.resolve({ ...host, accelerator: demoted, kvm: false }));
        return await boot(acceleratorOf({ accelerator: demoted }), Math.max(1, job.timeoutMs - (Date.now() - started)));
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /** x86's fast path: the ELF vmlinux through its PVH entry with qboot; arm64 Images load directly. */
  private async bootPlan(kernel: string, host: HostCapabilities): Promise<BootPlan> {
    if (host.arch !== "x86_64") return { path: "fast", kernel, detail: "kernel Image loaded directly" };
    const standard = (detail: string): BootPlan => ({ path: "standard", kernel, detail });
    if (this.options.standardBoot) return standard("standard boot requested");
    if (!host.qbootRom) return standard("fast boot unavailable: qboot.rom not found (install qemu-system-data)");
    const vmlinux = await extractVmlinux(kernel, join(this.cacheDir, "kernels")).catch((error: Error) => ({ ok: false, detail: error.message }) as const);
    if (!vmlinux.ok) return standard(`fast boot unavailable: ${vmlinux.detail}`);
    return { path: "fast", kernel: vmlinux.path, bios: host.qbootRom, detail: `${vmlinux.detail}, PVH entry, qboot` };
  }
}

/** The outputs of the build a job boots, each file checked against its digest, and its kernel among them. */
async function buildOutputsFor(job: QemuJob, context: RunContext): Promise<BuildOutputs> {
  if (!context.build) throw new BuildHandoffError(`the outputs of build ${job.build} were not handed to this job`);
  namedOutput("kernel", job.kernel, context.build);
  await checkBuildOutputs(context.build);
  return context.build;
}

function acceleratorOf(host: { accelerator: AcceleratorChoice | null }): { accelerator: Accelerator; cpu: string | null; detail: string } {
  const choice = host.accelerator;
  if (!choice) return { accelerator: "tcg", cpu: null, detail: "tcg (accelerator not probed)" };
  return { accelerator: choice.accelerator, cpu: choice.cpu, detail: choice.detail };
}

function bootInfo(plan: BootPlan, machine: string, choice: { accelerator: Accelerator; cpu: string | null; detail: string }): BootInfo {
  return { path: plan.path, accelerator: choice.accelerator, machine, detail: `${choice.detail}; ${plan.detail}` };
}
