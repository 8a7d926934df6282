#!/usr/bin/env bash
# Prepares a Debian host to run kto jobs, exactly as a self-hosted runner host is prepared:
# Docker, QEMU, busybox-static and cpio installed; containerd and dockerd running; and the
# local assets kto's examples, tests and benchmarks use:
#   $KTO_HOST_DIR/kernel/vmlinuz       Debian's x86_64 distribution kernel
#   $KTO_HOST_DIR/kernel/modules/      its /lib/modules tree (virtio and 9p live there)
#   $KTO_HOST_DIR/arm64/kernel/        the same for arm64, and
#   $KTO_HOST_DIR/arm64/busybox        a static arm64 busybox, for arm64 guests in guest mode
#   docker image kto/busybox:1         a busybox rootfs made with `docker import`
#   a registry on 127.0.0.1:5000       holding kto/busybox:1, for the image-pull path
#   docker image kto/builder:1         Debian's kernel build tools, gcc, clang/LLVM and the
#                                      arm64 cross gcc, made with mmdebstrap and `docker import`
#   /etc/kto/policy.yml                what jobs may have beyond kto's isolation: nothing
# Idempotent; prints nothing when everything is already in place.
set -euo pipefail

KTO_HOST_DIR=${KTO_HOST_DIR:-/var/lib/kto}
REGISTRY_ADDR=${KTO_REGISTRY_ADDR:-127.0.0.1:5000}
LOG_DIR=${KTO_LOG_DIR:-/var/log/kto}
BUSYBOX_IMAGE=kto/busybox:1

say() { printf 'provision: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && exec sudo -E bash "$0" "$@"
  die "run as root (it installs packages and starts dockerd)"
fi
command -v apt-get >/dev/null || die "this script provisions Debian-family hosts (apt-get not found)"

packages=(docker.io containerd qemu-system-x86 qemu-system-arm qemu-system-data busybox-static cpio xz-utils docker-registry ca-certificates util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$KTO_HOST_DIR" "$LOG_DIR"

# The host owner's word on the privileges jobs may have; as installed, none. One already
# there is the owner's, and is left as it is.
POLICY_FILE=${KTO_HOST_POLICY:-/etc/kto/policy.yml}
if [ ! -e "$POLICY_FILE" ]; then
  say "installing $POLICY_FILE, which grants jobs no privileges"
  install -D -m 644 "$(dirname "$0")/policy.yml" "$POLICY_FILE"
fi

# Hosts without systemd (containers, CI sandboxes) need the daemons started by hand.
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local n=$(( $1 * 5 )) what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "$what did not come up; see $LOG_DIR"
}
docker_cli() { /usr/bin/docker "$@"; }

if ! docker_cli info >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    systemctl start containerd docker
  else
    if ! pgrep -x containerd >/dev/null; then
      say "starting containerd"
      setsid containerd >>"$LOG_DIR/containerd.log" 2>&1 < /dev/null &
      wait_for 30 containerd test -S /run/containerd/containerd.sock
    fi
    if ! pgrep -x dockerd >/dev/null; then
      say "starting dockerd"
      setsid dockerd --containerd=/run/containerd/containerd.sock >>"$LOG_DIR/dockerd.log" 2>&1 < /dev/null &
    fi
  fi
  wait_for 60 dockerd docker_cli info
fi

# A busybox image built from the static binary: no registry needed.
if ! docker_cli image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1; then
  say "building $BUSYBOX_IMAGE with docker import"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,tmp,proc,sys,dev,etc,work,results}
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
  done
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  tar -C "$rootfs" -c . | docker_cli import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
fi

# A local registry on loopback: Docker trusts 127.0.0.0/8 without TLS, so the pull path is real.
if ! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  cat > "$KTO_HOST_DIR/registry.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $KTO_HOST_DIR/registry
http:
  addr: $REGISTRY_ADDR
EOF
  say "starting a local registry on $REGISTRY_ADDR"
  setsid docker-registry serve "$KTO_HOST_DIR/registry.yml" >>"$LOG_DIR/registry.log" 2>&1 < /dev/null &
  wait_for 30 "the local registry" curl -fsS "http://$REGISTRY_ADDR/v2/"
fi
if ! curl -fsS "http://$REGISTRY_ADDR/v2/kto/busybox/manifests/1" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' >/dev/null 2>&1; then
  docker_cli tag "$BUSYBOX_IMAGE" "$REGISTRY_ADDR/$BUSYBOX_IMAGE"
  docker_cli push -q "$REGISTRY_ADDR/$BUSYBOX_IMAGE" >/dev/null
  docker_cli rmi "$REGISTRY_ADDR/$BUSYBOX_IMAGE" >/dev/null
fi

# Debian's own kernels, the ones linux-image-<arch> points at, with their modules; and
# for the architecture that is not the host's, a static busybox of that architecture.
native=$(dpkg --print-architecture)
debian_arch() { case "$1" in x86_64) echo amd64 ;; arm64) echo arm64 ;; esac; }
guest_dir() { if [ "$1" = x86_64 ]; then echo "$KTO_HOST_DIR"; else echo "$KTO_HOST_DIR/$1"; fi; }
apt_updated=
apt_update() { [ -n "$apt_updated" ] || { apt-get update -qq >/dev/null; apt_updated=1; }; }

# fetch_debs DIR PACKAGE...: the .debs alone, not installed (a kernel on the host is not wanted).
fetch_debs() {
  local dir=$1; shift
  chmod 755 "$dir"
  (cd "$dir" && apt-get download -qq "$@" >/dev/null 2>&1) || { apt_update; (cd "$dir" && apt-get download -qq "$@" >/dev/null); }
}

for guest in x86_64 arm64; do
  darch=$(debian_arch "$guest")
  dest=$(guest_dir "$guest")
  qualifier=""
  if [ "$darch" != "$native" ]; then
    qualifier=":$darch"
    if ! dpkg --print-foreign-architectures | grep -qx "$darch"; then
      say "adding Debian's $darch packages (for $guest guests)"
      dpkg --add-architecture "$darch"
      apt_updated=; apt_update
    fi
  fi
  if [ ! -s "$dest/kernel/vmlinuz" ]; then
    kpkg=$(apt-cache depends "linux-image-$darch$qualifier" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$kpkg" ]; then apt_update; kpkg=$(apt-cache depends "linux-image-$darch$qualifier" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); fi
    [ -n "$kpkg" ] || die "cannot tell which kernel package linux-image-$darch depends on"
    say "extracting $kpkg"
    dl=$(mktemp -d)
    fetch_debs "$dl" "$kpkg"
    dpkg-deb -x "$dl"/*.deb "$dl/root"
    kver=$(ls "$dl/root/lib/modules" | head -n1)
    mkdir -p "$dest"
    rm -rf "$dest/kernel.new"
    mkdir -p "$dest/kernel.new"
    cp "$dl/root/boot/vmlinuz-$kver" "$dest/kernel.new/vmlinuz"
    mv "$dl/root/lib/modules/$kver" "$dest/kernel.new/modules"
    echo "$kver" > "$dest/kernel.new/release"
    rm -rf "$dl" "$dest/kernel"
    mv "$dest/kernel.new" "$dest/kernel"
  fi
  if [ -n "$qualifier" ] && [ ! -s "$dest/busybox" ]; then
    say "extracting busybox-static$qualifier"
    dl=$(mktemp -d)
    fetch_debs "$dl" "busybox-static$qualifier"
    dpkg-deb -x "$dl"/*.deb "$dl/root"
    install -m 755 "$dl/root/bin/busybox" "$dest/busybox.new"
    mv "$dest/busybox.new" "$dest/busybox"
    rm -rf "$dl"
  fi
done

# kto/builder:1, the image kernels are built in: Debian's compilers and kernel build tools
# (gcc, clang/LLVM, the arm64 cross gcc, ccache). Made from Debian's packages with mmdebstrap
# and `docker import`, so no registry is needed. The rootfs tarball is kept, named by its
# package list, so a host that lost the image imports it again in seconds; a changed list
# makes a new tarball.
BUILDER_IMAGE=kto/builder:1
builder_packages=gcc,make,bc,bison,flex,libelf-dev,libssl-dev,cpio,kmod,rsync,python3,perl,ccache,clang,lld,llvm,gcc-aarch64-linux-gnu,binutils,xz-utils,zstd
builder_mirror=${KTO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
if ! docker_cli image inspect "$BUILDER_IMAGE" >/dev/null 2>&1; then
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  key=$(printf '%s %s %s' "$suite" "$builder_mirror" "$builder_packages" | sha256sum | cut -c1-16)
  tarball="$KTO_HOST_DIR/builder/rootfs-$key.tar"
  # Not a regular file (a directory, say, left by a run that was cut short): made again.
  [ -f "$tarball" ] || rm -rf "$tarball"
  if [ ! -s "$tarball" ]; then
    command -v mmdebstrap >/dev/null || { apt_update; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
    say "building the $BUILDER_IMAGE rootfs from Debian $suite (several minutes, once)"
    mkdir -p "$KTO_HOST_DIR/builder"
    rm -rf "$tarball.new"
    # --format: mmdebstrap would take a name not ending in .tar for a directory to fill.
    mmdebstrap --quiet --variant=minbase --format=tar --include="$builder_packages" \
      --aptopt='Acquire::Languages "none"' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      "$suite" "$tarball.new" "$builder_mirror" >>"$LOG_DIR/builder-rootfs.log" 2>&1 || die "mmdebstrap failed; see $LOG_DIR/builder-rootfs.log"
    mv "$tarball.new" "$tarball"
    find "$KTO_HOST_DIR/builder" -name 'rootfs-*.tar' ! -name "rootfs-$key.tar" -delete
  fi
  say "importing $BUILDER_IMAGE"
  docker_cli import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' -c 'ENV LANG=C.UTF-8' "$tarball" "$BUILDER_IMAGE" >/dev/null
fi
