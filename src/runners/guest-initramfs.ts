import { createHash } from "node:crypto";
import { readdir, readFile, realpath, stat, mkdir, writeFile, rename } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeCpio, type CpioEntry } from "./cpio.js";
import { readKernelRelease } from "./kernel-image.js";
import { within } from "./qemu-inputs.js";

export const WORKSPACE_TAG = "kto_ws";
export const RESULTS_TAG = "kto_out";

/**
 * Modules a distribution kernel keeps outside the image for 9p over virtio-pci and a
 * suite's `disk` (virtio-blk), in load order (Debian 12's 6.1 has all of them as modules,
 * on x86_64 and arm64). Missing ones are taken as built in.
 */
export const GUEST_MODULES = [
  "virtio_ring",
  "virtio",
  "virtio_pci_legacy_dev",
  "virtio_pci_modern_dev",
  "virtio_pci",
  "virtio_blk",
  "netfs",
  "fscache",
  "9pnet",
  "9pnet_virtio",
  "9p",
] as const;

const INIT = `#!/bin/sh
# kto guest init: mount the workspace, run the job's command, report its status, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
nonce=$(cat /kto/nonce)
echo "kto-init-$nonce"
for m in $(cat /kto/modules); do insmod "/lib/kto-modules/$m.ko" 2>/dev/null; done
mkdir -p /workspace /results /tmp
mount -t tmpfs tmpfs /tmp
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro ${WORKSPACE_TAG} /workspace; then
  echo "kto-setup-failed-$nonce: cannot mount the workspace over 9p"
fi
mount -t 9p -o trans=virtio,version=9p2000.L ${RESULTS_TAG} /results 2>/dev/null
# The serial tty would add a CR before every LF: keep the command's bytes as it wrote them.
stty -onlcr </dev/console 2>/dev/null
export HOME=/tmp KTO_RESULTS=/results
[ -f /kto/env ] && . /kto/env
cd /workspace 2>/dev/null || cd /
/bin/sh /kto/command </dev/null >/dev/console 2>&1
echo "kto-exit-$nonce: $?"
cd /
umount /results 2>/dev/null
sync
poweroff -f
`;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A module file under `root`; a symlink counts only when it stays inside (a config could point one at any host file). */
async function findModule(root: string, name: string): Promise<string | null> {
  const realRoot = await realpath(root);
  const stack = [realRoot];
  while (stack.length) {
    const dir = stack.pop()!;
    // A directory kto cannot read holds no module it could copy.
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.name !== `${name}.ko`) continue;
      else if (entry.isFile()) return path;
      else if (entry.isSymbolicLink()) {
        const target = await realpath(path).catch(() => null);
        if (target && within(realRoot, target) && (await stat(target)).isFile()) return target;
      }
    }
  }
  return null;
}

/**
 * Where the kernel's modules are: the suite's `modules`, a `modules/` beside the kernel
 * (self-hosted/provision.sh lays Debian's kernel out so), or /lib/modules/<release>.
 */
export async function locateModules(kernel: string, configured?: string): Promise<string | null> {
  if (configured) return configured;
  const beside = join(dirname(kernel), "modules");
  if (await exists(beside)) return beside;
  // A kernel whose release cannot be read has no /lib/modules of its own to find.
  const release = await readKernelRelease(kernel).catch(() => null);
  if (release && (await exists(`/lib/modules/${release}`))) return `/lib/modules/${release}`;
  return null;
}

export interface BaseInitramfs {
  path: string;
  modules: string[];
}

/** busybox + init + the 9p modules, built once per (busybox, modules) and cached by content hash. */
export async function baseInitramfs(options: { busybox: string; modulesDir: string | null; cacheDir: string }): Promise<BaseInitramfs> {
  const busybox = await readFile(options.busybox);
  const modules: { name: string; data: Buffer }[] = [];
  if (options.modulesDir) {
    for (const name of GUEST_MODULES) {
      const path = await findModule(options.modulesDir, name);
      if (path) modules.push({ name, data: await readFile(path) });
    }
  }
  const hash = createHash("sha256").update(INIT).update(busybox);
  for (const m of modules) hash.update(m.name).update(m.data);
  const path = join(options.cacheDir, `guest-${hash.digest("hex").slice(0, 32)}.cpio`);
  const names = modules.map((m) => m.name);
  if (await exists(path)) return { path, modules: names };

  const entries: CpioEntry[] = [
    ...["bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "kto", "lib", "lib/kto-modules", "work", "results", "root", "etc"].map(
      (dir): CpioEntry => ({ kind: "dir", path: dir }),
    ),
    { kind: "file", path: "bin/busybox", data: busybox, mode: 0o755 },
    { kind: "symlink", path: "bin/sh", target: "busybox" },
    { kind: "file", path: "init", data: Buffer.from(INIT), mode: 0o755 },
    { kind: "file", path: "kto/modules", data: Buffer.from(names.join("\n") + "\n") },
    ...modules.map((m): CpioEntry => ({ kind: "file", path: `lib/kto-modules/${m.name}.ko`, data: m.data })),
    ...BUSYBOX_APPLETS.map((applet): CpioEntry => ({ kind: "symlink", path: `bin/${applet}`, target: "busybox" })),
  ];
  await mkdir(options.cacheDir, { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, writeCpio(entries));
  await rename(temporary, path);
  return { path, modules: names };
}

/** Applets the init and typical test scripts use; `busybox --install` needs a mounted /proc first. */
const BUSYBOX_APPLETS = [
  "awk",
  "basename",
  "cat",
  "chmod",
  "cp",
  "cut",
  "date",
  "dd",
  "dirname",
  "dmesg",
  "echo",
  "env",
  "false",
  "find",
  "grep",
  "head",
  "insmod",
  "kill",
  "ln",
  "ls",
  "lsmod",
  "mkdir",
  "mknod",
  "modprobe",
  "mount",
  "mv",
  "poweroff",
  "printf",
  "ps",
  "pwd",
  "readlink",
  "rm",
  "rmdir",
  "sed",
  "seq",
  "sleep",
  "sort",
  "stat",
  "stty",
  "sync",
  "tail",
  "tee",
  "test",
  "timeout",
  "touch",
  "tr",
  "true",
  "umount",
  "uname",
  "uniq",
  "wc",
  "xargs",
  "yes",
  "[",
  "[[",
];

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The per-job archive appended to the base: nonce, command and environment. */
export function jobInitramfs(command: string | string[], env: Record<string, string>, nonce: string): Buffer {
  const script = typeof command === "string" ? `${command}\n` : `exec ${command.map(shellQuote).join(" ")}\n`;
  const envFile = Object.entries(env)
    .map(([key, value]) => `export ${key}=${shellQuote(value)}`)
    .join("\n");
  return writeCpio([
    { kind: "file", path: "kto/nonce", data: Buffer.from(nonce) },
    { kind: "file", path: "kto/command", data: Buffer.from(script), mode: 0o755 },
    { kind: "file", path: "kto/env", data: Buffer.from(`${envFile}\n`) },
  ]);
}
