import { access, constants, open } from "node:fs/promises";
import { delimiter, join } from "node:path";

export interface HostCapabilities {
  qemuBinary: string | null;
  kvm: boolean;
  qbootRom: string | null;
  busybox: string | null;
}

async function findOnPath(name: string): Promise<string | null> {
  if (name.includes("/")) return (await isExecutable(name)) ? name : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return null;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

async function firstExisting(paths: string[]): Promise<string | null> {
  for (const path of paths) {
    if (await access(path, constants.R_OK).then(() => true, () => false)) return path;
  }
  return null;
}

/** KVM is used only when /dev/kvm opens read-write: present-but-forbidden is common in containers. */
export async function kvmUsable(device = "/dev/kvm"): Promise<boolean> {
  try {
    const handle = await open(device, "r+");
    await handle.close();
    return true;
  } catch {
    return false;
  }
}

export async function detectHost(arch = "x86_64"): Promise<HostCapabilities> {
  return {
    qemuBinary: await findOnPath(process.env.KTO_QEMU ?? `qemu-system-${arch}`),
    kvm: process.env.KTO_NO_KVM ? false : await kvmUsable(),
    qbootRom: await firstExisting(["/usr/share/qemu/qboot.rom", "/usr/share/qemu-firmware/qboot.rom", "/usr/share/seabios/qboot.rom"]),
    busybox: await firstExisting([process.env.KTO_BUSYBOX ?? "", "/bin/busybox", "/usr/bin/busybox"].filter(Boolean)),
  };
}
