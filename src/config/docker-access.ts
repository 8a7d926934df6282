/**
 * What a docker suite may opt into beyond kto's isolation defaults. Never `privileged`:
 * each grant is named, so a config shows exactly what its jobs can do to the host.
 */

/** Linux's capabilities (linux/capability.h, CAP_CHOWN through CAP_CHECKPOINT_RESTORE) in Docker's spelling. */
export const LINUX_CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
] as const;
export type LinuxCapability = (typeof LINUX_CAPABILITIES)[number];

/** `net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are one capability; null for a name Linux does not have. */
export function normaliseCapability(name: string): LinuxCapability | null {
  const bare = name.trim().toUpperCase().replace(/^CAP_/, "");
  return LINUX_CAPABILITIES.find((capability) => capability === bare) ?? null;
}

/**
 * Device nodes a docker suite may have passed through. Each reaches only state the container
 * already owns (its network namespace, its own FUSE mounts), never host data or hardware,
 * so block devices, /dev/mem and the like are out, and so is /dev/kvm (a VM belongs in a qemu suite).
 */
export const DOCKER_DEVICES = ["/dev/net/tun", "/dev/fuse"] as const;
export type DockerDevice = (typeof DOCKER_DEVICES)[number];

/** nobody:nogroup, the user of a job whose suite does not say `user`. */
export const NOBODY_USER = "65534:65534";

const MAX_ID = 4_294_967_294; // (uid_t)-1 means "no change" to the kernel, so it is never an id

/**
 * `root` → `0:0`, `1000` → `1000:1000`, `1000:100` as it is; null for anything else.
 * Always numeric so it means the same in every image (no /etc/passwd lookup) and can own /tmp.
 */
export function parseUser(value: string | number): string | null {
  const text = String(value).trim();
  if (text === "root") return "0:0";
  const match = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!match) return null;
  const uid = Number(match[1]);
  const gid = Number(match[2] ?? match[1]);
  return uid <= MAX_ID && gid <= MAX_ID ? `${uid}:${gid}` : null;
}

/** Capabilities reach only uid 0: Docker gives a non-root user none of them, and no-new-privileges blocks file capabilities. */
export function isRootUser(user: string): boolean {
  return user.split(":")[0] === "0";
}
