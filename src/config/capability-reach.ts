import { LINUX_CAPABILITIES, type LinuxCapability } from "./docker-access.js";

/**
 * What each capability reaches past the container, under kto's own isolation: its own
 * mount, PID, IPC and network namespaces, a read-only root, no-new-privileges, Docker's
 * default seccomp profile, no user namespace (root in the container is root on the host's
 * files), the workspace bound read-only and /results bound read-write from the host's disk.
 * null: it acts only on what the job already owns. A string: how it reaches the host, its
 * kernel, its hardware or other jobs; such a capability is granted only by a policy that
 * names it, never by `contained`. A Record, so a capability added to LINUX_CAPABILITIES
 * does not compile until someone has decided which it is.
 *
 * Docker's own default set (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID,
 * SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP) is no
 * guide on its own: kto binds a host directory read-write, where MKNOD and SETFCAP plant
 * things the host then honours, and runs jobs side by side on one bridge, where NET_RAW
 * spoofs the neighbours.
 */
export const CAPABILITY_REACH: Record<LinuxCapability, string | null> = {
  // Owner, mode and permission checks on the files the job can already name: its own
  // root, /tmp, the workspace (a read-only mount, which no capability writes through) and
  // /results. DAC_OVERRIDE opens no path to other files; DAC_READ_SEARCH does.
  CHOWN: null,
  DAC_OVERRIDE: null,
  FOWNER: null,
  FSETID: null,
  DAC_READ_SEARCH:
    "open_by_handle_at opens any file of a filesystem the container has a mount of, by handle, so a root job reads the host's /etc/shadow through the host directories bound into it",
  LINUX_IMMUTABLE: "it marks files in /results, on the host's disk, immutable, and then the runner cannot remove them",
  // Signals, ids and the job's own capability sets, within its own PID namespace;
  // no-new-privileges still holds.
  KILL: null,
  SETGID: null,
  SETUID: null,
  SETPCAP: null,
  NET_BIND_SERVICE: null,
  NET_BROADCAST: null,
  NET_ADMIN:
    "it opens netfilter (nf_tables), the kernel code most used for local root exploits (CVE-2022-1015, CVE-2024-1086), and on a bridged network it readdresses the container to impersonate other jobs",
  NET_RAW: "raw and packet sockets sniff and spoof other containers' traffic on the bridge, and reach AF_PACKET bugs (CVE-2020-14386)",
  // Locked memory counts against the job's memory limit; SysV IPC is its own namespace's.
  IPC_LOCK: null,
  IPC_OWNER: null,
  SYS_MODULE: "it loads code into the host's kernel",
  SYS_RAWIO: "iopl, ioperm and raw device access reach the host's hardware and memory",
  // chroot inside the job's own mount namespace: breaking out of it leads back to the container's root.
  SYS_CHROOT: null,
  SYS_PTRACE: "Docker's seccomp profile opens ptrace, process_vm_readv/writev and kcmp with it, and on kernels before 4.8 ptrace steps around seccomp",
  // Process accounting is kept per PID namespace, into a file the job can write anyway.
  SYS_PACCT: null,
  SYS_ADMIN: "mount, namespaces, BPF and the cgroup release_agent: the classic container escapes",
  SYS_BOOT: "kexec_load replaces the host's kernel (reboot inside a PID namespace ends only the container, kexec does not)",
  SYS_NICE: "realtime scheduling outruns the job's CPU limit and starves the host",
  SYS_RESOURCE: "it overrides resource limits and the root-reserved blocks of the host's filesystem under /results",
  SYS_TIME: "it sets the host's clock: no namespace covers it",
  // vhangup on a terminal the job has none of (kto attaches no TTY).
  SYS_TTY_CONFIG: null,
  MKNOD: "it makes device nodes in /results on the host's disk, which open the host's devices for whoever uses them there",
  // Leases on files the job can open.
  LEASE: null,
  AUDIT_WRITE: "it writes records into the host's audit log, which has no namespace",
  AUDIT_CONTROL: "it changes the host's audit rules",
  SETFCAP: "it gives binaries in /results, on the host's disk, file capabilities that whoever runs them there gets",
  MAC_OVERRIDE: "it overrides the host's mandatory access control policy",
  MAC_ADMIN: "it changes the host's AppArmor, SELinux or Smack policy",
  SYSLOG: "it reads and clears the host's kernel log, kernel addresses included",
  WAKE_ALARM: "it sets alarms that wake the host",
  BLOCK_SUSPEND: "it keeps the host from suspending",
  AUDIT_READ: "it reads the host's audit log",
  PERFMON: "system-wide perf events watch every process of the host and its kernel",
  BPF: "it loads BPF programs into the host's kernel, whose verifier is a common exploit route",
  // Choosing PIDs and reading map_files, in the job's own PID namespace.
  CHECKPOINT_RESTORE: null,
};

/** The capabilities `contained` grants: each acts only on what the job already owns. */
export const CONTAINED_CAPABILITIES: readonly LinuxCapability[] = LINUX_CAPABILITIES.filter((capability) => CAPABILITY_REACH[capability] === null);
