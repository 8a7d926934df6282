import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";

/**
 * How a wrapper around the real qemu-system-x86_64 makes KVM fail, the way it fails on
 * real hosts: QEMU itself opens /dev/kvm, finds /dev/null there (a private mount
 * namespace) or no device at all, and refuses with its own error. Nothing is stubbed:
 * every guest that does boot is the real QEMU running the real kernel.
 *
 * - `kvm-broken`: KVM fails; TCG works (a nested VM whose /dev/kvm opens but runs nothing).
 * - `all-broken`: every accelerator is forced to KVM, which fails: nothing can boot.
 * - `kvm-fails-jobs`: KVM passes the accelerator probe (the wrapper boots that one under
 *   TCG) and fails when a job boots: KVM that breaks after it was measured.
 */
export type BrokenKvmMode = "kvm-broken" | "all-broken" | "kvm-fails-jobs";

export interface BrokenKvmHost {
  /** KTO_QEMU, and a KTO_KVM_DEVICE that opens read-write, so kto gets as far as booting. */
  env: NodeJS.ProcessEnv;
  qemu: string;
}

export async function brokenKvmHost(dir: string, mode: BrokenKvmMode): Promise<BrokenKvmHost> {
  const real = (await execa("sh", ["-c", "command -v qemu-system-x86_64"])).stdout.trim();
  const device = join(dir, "kvm-device");
  await writeFile(device, "");
  const qemu = join(dir, `qemu-${mode}`);
  await writeFile(
    qemu,
    `#!/bin/bash
real=${real}
mode=${mode}
args=("$@")
wants_kvm=; job=
for ((i = 0; i < \${#args[@]}; i++)); do
  case "\${args[i]}" in
    -accel) [[ "\${args[i+1]}" == kvm* ]] && wants_kvm=1 ;;
    -initrd) job=1 ;;
  esac
done
without_cpu() { local out=() skip=; for a in "\${args[@]}"; do if [ -n "$skip" ]; then skip=; continue; fi; [ "$a" = -cpu ] && { skip=1; continue; }; out+=("$a"); done; args=("\${out[@]}"); }
set_accel() { for ((i = 0; i < \${#args[@]}; i++)); do [ "\${args[i]}" = -accel ] && args[i+1]=$1; done; }
broken_kvm() {
  if [ -e /dev/kvm ]; then exec unshare -m bash -c 'mount --bind /dev/null /dev/kvm && exec "$@"' - "$real" "\${args[@]}"; fi
  exec "$real" "\${args[@]}"
}
case "$mode" in
  kvm-broken) [ -n "$wants_kvm" ] && broken_kvm ;;
  all-broken) [ "\${args[0]}" = --version ] || { set_accel kvm; broken_kvm; } ;;
  kvm-fails-jobs)
    if [ -n "$wants_kvm" ] && [ -z "$job" ]; then without_cpu; set_accel tcg; fi
    if [ -n "$wants_kvm" ] && [ -n "$job" ]; then broken_kvm; fi ;;
esac
exec "$real" "\${args[@]}"
`,
  );
  await chmod(qemu, 0o755);
  return { qemu, env: { ...process.env, KTO_QEMU: qemu, KTO_KVM_DEVICE: device, KTO_NO_KVM: "" } };
}
