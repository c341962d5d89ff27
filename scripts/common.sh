#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared set-up for scripts/demo.sh and scripts/test.sh: install what is
# missing, configure once, build. Sourced, not run.
set -euo pipefail

DMAKIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DMAKIT_BUILD=${DMAKIT_BUILD:-$DMAKIT_ROOT/build}

log() { printf '\033[1m[dmakit]\033[0m %s\n' "$*"; }
die() { printf '[dmakit] error: %s\n' "$*" >&2; exit 1; }

dmakit_install_deps() {
  local wanted missing=()
  wanted=$(grep -v '^\s*#' "$DMAKIT_ROOT/scripts/debian-packages.txt" | grep -v '^\s*$')
  for p in $wanted; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "all Debian packages present"
    return 0
  fi
  log "installing: ${missing[*]}"
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

dmakit_build() {
  if [ ! -f "$DMAKIT_BUILD/build.ninja" ]; then
    log "configuring $DMAKIT_BUILD"
    meson setup "$DMAKIT_BUILD" "$DMAKIT_ROOT" --werror -Dtests=enabled ${DMAKIT_MESON_ARGS:-}
  fi
  log "building"
  ninja -C "$DMAKIT_BUILD"
}

# Environment that makes the uninstalled plugin and library discoverable,
# with a registry file of our own.
dmakit_uninstalled_env() {
  export GST_PLUGIN_PATH="$DMAKIT_BUILD/gst/elements${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
  export LD_LIBRARY_PATH="$DMAKIT_BUILD/gst/dmakit${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GI_TYPELIB_PATH="$DMAKIT_BUILD/gst/dmakit${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}"
  export GST_REGISTRY="$DMAKIT_BUILD/dmakit-uninstalled.registry"
}
