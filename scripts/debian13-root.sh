#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian 13 (trixie, GStreamer 1.26) root the gst126 tiers build and test
# in. Made once with mmdebstrap from Debian's archive and cached outside the
# checkout; refreshed only when scripts/debian13-packages.txt changes.
#
#   scripts/debian13-root.sh ensure          create/refresh the root, print its path
#   scripts/debian13-root.sh path            print the root's path (no checks)
#   scripts/debian13-root.sh run [OPTIONS] [--] COMMAND [ARG...]
#       run COMMAND as root inside the root, in a private mount namespace
#       (nothing leaks to the host): /proc, /sys (read-only), /dev, tmpfs on
#       /tmp and /run, and the checkout bind-mounted at its own path. The
#       current directory is kept when it is visible inside.
#     --root DIR        another root (default: the cached one, made by ensure)
#     --bind PATH       also bind-mount PATH at its own path (repeatable)
#     --env NAME=VALUE  set a variable inside (repeatable). Passed through as
#                       well: DMAKIT_*, GST_*, G_*, CK_*, CI, TERM.
#
# Environment: DMAKIT_CACHE (default /var/cache/dmakit; the root is
# $DMAKIT_CACHE/debian13), DMAKIT_DEBIAN_MIRROR (default
# http://deb.debian.org/debian). See docs/vm-tier.md ("The GStreamer 1.26 tiers").
set -euo pipefail

SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${DMAKIT_CACHE:-/var/cache/dmakit}
ROOTFS=$CACHE/debian13
SUITE=trixie
MIRROR=${DMAKIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKG_LIST=$SRC_ROOT/scripts/debian13-packages.txt
# Bump when the way the root is made changes, to force a rebuild.
ROOT_FORMAT=1
STAMP_NAME=.dmakit-root-stamp

log() { printf '\033[1m[dmakit-gst126]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[dmakit-gst126] error:\033[0m %s\n' "$*" >&2; exit 1; }

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

wanted_packages() {
  grep -v '^\s*#' "$PKG_LIST" | grep -v '^\s*$' | tr -d ' \t' | LC_ALL=C sort -u
}

# What the root is made from: a change here rebuilds it, except for added packages.
root_recipe() {
  echo "format $ROOT_FORMAT"
  echo "suite $SUITE"
  echo "mirror $MIRROR"
  echo "variant minbase"
}

stamp_hash() { { root_recipe; wanted_packages; } | sha256sum | cut -c1-16; }

# Run COMMAND in root DIR with only what apt needs (proc, dev, resolv.conf).
apt_in_root() {
  local dir=$1; shift
  $SUDO unshare -m --propagation private bash -c '
    R=$1; shift
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount -t tmpfs tmpfs "$R/tmp"
    [ -f /etc/resolv.conf ] && { touch "$R/etc/resolv.conf"; mount --bind /etc/resolv.conf "$R/etc/resolv.conf"; }
    exec chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
      DEBIAN_FRONTEND=noninteractive "$@"
  ' _ "$dir" "$@"
}

ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null && return 0
  log "installing mmdebstrap"
  $SUDO apt-get update -q >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends mmdebstrap >&2 ||
    die "could not install mmdebstrap"
}

create_root() {
  ensure_mmdebstrap
  local tmp=$ROOTFS.new include
  include=$(wanted_packages | paste -sd, -)
  $SUDO rm -rf "$tmp"
  log "creating the Debian 13 root $ROOTFS from $MIRROR (a few minutes)"
  local t0=$SECONDS
  $SUDO mmdebstrap --variant=minbase --mode=root --components=main --include="$include" \
    "$SUITE" "$tmp" "$MIRROR" >&2 || { $SUDO rm -rf "$tmp"; die "mmdebstrap failed"; }
  [ -x "$tmp/usr/bin/gst-inspect-1.0" ] || { $SUDO rm -rf "$tmp"; die "the new root has no gst-inspect-1.0"; }
  { echo "hash $(stamp_hash)"; root_recipe; wanted_packages | sed 's/^/package /'; } |
    $SUDO tee "$tmp/$STAMP_NAME" >/dev/null
  if [ -e "$ROOTFS" ]; then
    $SUDO mv "$ROOTFS" "$ROOTFS.old"
    $SUDO rm -rf "$ROOTFS.old"
  fi
  $SUDO mv "$tmp" "$ROOTFS"
  log "root ready in $((SECONDS - t0)) s: GStreamer $(gst_version)"
}

# Packages added to the list since the root was made go into the root itself.
add_packages() {
  local missing=() p
  for p in $(wanted_packages); do
    grep -qx "package $p" "$ROOTFS/$STAMP_NAME" || missing+=("$p")
  done
  log "installing into the root: ${missing[*]}"
  apt_in_root "$ROOTFS" sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
    sh "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed in $ROOTFS"
  { echo "hash $(stamp_hash)"; root_recipe; wanted_packages | sed 's/^/package /'; } |
    $SUDO tee "$ROOTFS/$STAMP_NAME" >/dev/null
}

gst_version() {
  awk '/^Package: libgstreamer1.0-0$/ { p = 1 } p && /^Version:/ { print $2; exit }' \
    "$ROOTFS/var/lib/dpkg/status"
}

ensure_root() {
  $SUDO mkdir -p "$CACHE"
  exec 8>"$CACHE/debian13.lock"
  flock -w 1200 8 || die "another scripts/debian13-root.sh holds $CACHE/debian13.lock"
  local stamp=$ROOTFS/$STAMP_NAME
  if [ -f "$stamp" ] && [ "$(sed -n 's/^hash //p' "$stamp")" = "$(stamp_hash)" ]; then
    :
  elif [ -f "$stamp" ] && diff -q <(grep -v '^hash \|^package ' "$stamp") <(root_recipe) >/dev/null &&
       [ -z "$(comm -23 <(sed -n 's/^package //p' "$stamp" | LC_ALL=C sort) <(wanted_packages))" ]; then
    add_packages
  else
    [ -f "$stamp" ] && log "scripts/debian13-packages.txt or the recipe changed: rebuilding the root"
    create_root
  fi
  exec 8>&-
  echo "$ROOTFS"
}

run_in_root() {
  local dir=$ROOTFS binds=("$SRC_ROOT") envs=()
  while [ $# -gt 0 ]; do
    case $1 in
      --root) dir=${2:?--root needs a directory}; shift 2 ;;
      --bind) binds+=("$(cd "${2:?--bind needs a path}" && pwd)"); shift 2 ;;
      --env) envs+=("${2:?--env needs NAME=VALUE}"); shift 2 ;;
      --) shift; break ;;
      -*) die "run: unknown option '$1'" ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || set -- bash
  [ -x "$dir/usr/bin/env" ] || die "no root at $dir (run: scripts/debian13-root.sh ensure)"
  dir=$(cd "$dir" && pwd)
  local name
  while IFS= read -r name; do
    case $name in
      DMAKIT_*|GST_*|G_*|CK_*|CI|TERM) envs+=("$name=${!name}") ;;
    esac
  done < <(compgen -e)
  # The mounts live in this namespace only and vanish with it.
  $SUDO unshare -m --propagation private bash -c '
    set -e
    R=$1 nb=$2; shift 2
    binds=("${@:1:$nb}"); shift "$nb"
    ne=$1; shift
    envs=("${@:1:$ne}"); shift "$ne"
    # The root a mount point of its own, so that / inside is one, as on a real system.
    mount --bind "$R" "$R"
    mount -t proc proc "$R/proc"
    mount -t sysfs -o ro sysfs "$R/sys"
    mount --rbind /dev "$R/dev"
    mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
    mount -t tmpfs -o mode=755 tmpfs "$R/run"
    for b in "${binds[@]}"; do
      mkdir -p "$R$b"
      mount --rbind "$b" "$R$b"
    done
    cwd=/
    for b in "${binds[@]}"; do
      case $PWD/ in "$b"/*) cwd=$PWD ;; esac
    done
    exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin "${envs[@]}" \
      /bin/bash -c "cd \"\$1\" && shift && exec \"\$@\"" sh "$cwd" "$@"
  ' _ "$dir" "${#binds[@]}" "${binds[@]}" "${#envs[@]}" "${envs[@]}" "$@"
}

case ${1:-} in
  ensure) ensure_root ;;
  path) echo "$ROOTFS" ;;
  run) shift; run_in_root "$@" ;;
  -h|--help|'') sed -n '3,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (ensure, path, run)" ;;
esac
