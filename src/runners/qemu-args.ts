import type { CheckedDisk } from "./disk-image.js";

export interface QemuShare {
  tag: string;
  path: string;
  readonly: boolean;
}

export interface QemuInvocation {
  accelerator: "kvm" | "tcg";
  /** `-M`: pc for x86_64, virt for arm64. */
  machine: string;
  /** `-cpu`, when the accelerator's default is not what kto wants. */
  cpu: string | null;
  /** `fast`: ELF vmlinux through its PVH entry with qboot; `standard`: bzImage with SeaBIOS. */
  boot: "fast" | "standard";
  kernel: string;
  initrd?: string;
  append: string;
  memoryBytes: number;
  cpus: number;
  shares: QemuShare[];
  /** The suite's disk, read-only, under a throwaway overlay (see writeDiskOverlay) that takes the guest's writes. */
  disk?: { image: CheckedDisk; overlay: string };
  qbootRom?: string;
}

/**
 * A value inside one of QEMU's `key=value,key=value` options: a comma in it must be
 * doubled, or `file=a.img,file.locking=off` would set a second option.
 */
export function optionValue(value: string): string {
  return value.replace(/,/g, ",,");
}

/** qemu-system argv for a job: pure, so it is tested without booting anything. */
export function qemuArgs(vm: QemuInvocation): string[] {
  const args = ["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-monitor", "none"];
  args.push("-M", vm.machine);
  if (vm.accelerator === "kvm") args.push("-accel", "kvm");
  else args.push("-accel", vm.cpus > 1 ? "tcg,thread=multi" : "tcg");
  if (vm.cpu) args.push("-cpu", vm.cpu);
  if (vm.boot === "fast" && vm.qbootRom) args.push("-bios", vm.qbootRom);
  args.push("-m", `${Math.max(64, Math.floor(vm.memoryBytes / (1024 * 1024)))}M`, "-smp", String(vm.cpus));
  args.push("-kernel", vm.kernel);
  if (vm.initrd) args.push("-initrd", vm.initrd);
  args.push("-append", vm.append);
  args.push("-no-reboot");
  vm.shares.forEach((share, index) => {
    args.push(
      "-fsdev",
      `local,id=fs${index},path=${optionValue(share.path)},security_model=none${share.readonly ? ",readonly=on" : ""}`,
      "-device",
      `virtio-9p-pci,fsdev=fs${index},mount_tag=${share.tag}`,
    );
  });
  if (vm.disk) args.push(...diskArgs(vm.disk.image, vm.disk.overlay), "-device", "virtio-blk-pci,drive=disk");
  return args;
}

/**
 * The disk as a graph of explicit block nodes, in QEMU's JSON form (no option syntax to
 * escape): each file opened by its path, never as a protocol name (`nbd:`, `json:`), each
 * format named so QEMU probes none, and nothing opened that an image names (`backing`
 * null; checkDiskImage refuses data files). The image is read-only; the overlay kto made
 * backs onto it by node name.
 */
function diskArgs(image: CheckedDisk, overlay: string): string[] {
  const nodes = [
    { driver: "file", "node-name": "disk-image-file", filename: image.path, "read-only": true },
    image.format === "qcow2"
      ? { driver: "qcow2", "node-name": "disk-image", file: "disk-image-file", "read-only": true, backing: null }
      : { driver: "raw", "node-name": "disk-image", file: "disk-image-file", "read-only": true },
    { driver: "file", "node-name": "disk-overlay-file", filename: overlay },
    { driver: "qcow2", "node-name": "disk", file: "disk-overlay-file", backing: "disk-image" },
  ];
  return nodes.flatMap((node) => ["-blockdev", JSON.stringify(node)]);
}

/** Kernel command line: serial console, reboot (so QEMU exits) at once on panic, then the suite's own. */
export function kernelAppend(options: { guestMode: boolean; console: string; extra?: string }): string {
  const parts = [`console=${options.console}`, "panic=-1", "reboot=t"];
  // Guest mode reads only its own markers, so the kernel's boot chatter can go; a user's
  // initramfs may print KTAP through printk, which `quiet` would hide.
  if (options.guestMode) parts.push("quiet", "rdinit=/init");
  if (options.extra) parts.push(options.extra);
  return parts.join(" ");
}
