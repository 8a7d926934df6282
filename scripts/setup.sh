#!/usr/bin/env bash
# A new machine, made ready for kto's demo and its whole test suite: the runner host as
# self-hosted/provision.sh prepares one (Docker, QEMU for x86_64 and arm64, kernels,
# busybox, images), plus what only the tests use: PostgreSQL (the store's contract tests
# start a throwaway cluster), Chromium (the dashboard is tested headless), qemu-utils
# (qemu-img makes the disk images the QEMU tests attach, as users make theirs) and
# linux-source-6.1 (Debian's kernel tree, /usr/src/linux-source-6.1.tar.xz, which the
# kernel-build tests build in provision.sh's kto/builder:1).
# Idempotent; run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && exec sudo -E bash "$0" "$@"
  echo "setup: run as root (it installs packages)" >&2; exit 1
fi

bash self-hosted/provision.sh
missing=()
for package in postgresql chromium qemu-utils linux-source-6.1; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
