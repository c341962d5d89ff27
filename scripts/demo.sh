#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what is missing, build, and show what dmakit does, from the
# uninstalled build. Ends with a summary; exits non-zero on failure.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dmakit_install_deps
dmakit_build
dmakit_uninstalled_env

OUT=${DMAKIT_DEMO_OUT:-$DMAKIT_BUILD/demo}
mkdir -p "$OUT"
SUMMARY=()

log "gst-inspect-1.0 dmakit"
gst-inspect-1.0 dmakit | tee "$OUT/inspect.txt"
grep -q "^  Filename *$DMAKIT_BUILD/gst/elements/libgstdmakit.so" "$OUT/inspect.txt" \
  || die "the dmakit plugin was not loaded from $DMAKIT_BUILD"
n_elements=$(grep -c '^  dmakit[a-z]*:' "$OUT/inspect.txt" || true)
SUMMARY+=("plugin dmakit $(sed -n 's/^  Version *//p' "$OUT/inspect.txt") found in the build tree, $n_elements element(s)")

echo
log "summary"
for line in "${SUMMARY[@]}"; do echo "  - $line"; done
echo "  outputs in $OUT"
