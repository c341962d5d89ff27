#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the build into a scratch DESTDIR, then proves that a third-party
# application compiles against the installed headers with the installed
# gstreamer-dmakit-1.0.pc, runs against the installed library, and that
# gst-inspect-1.0 finds the installed plugin.
set -euo pipefail
build=$1 src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
pc=$(find "$dest" -name gstreamer-dmakit-1.0.pc | head -n1)
[ -n "$pc" ] || { echo "FAIL: gstreamer-dmakit-1.0.pc not installed"; exit 1; }
test -f "$(find "$dest" -path '*include/gstreamer-1.0/gst/dmakit/dmakit.h' | head -n1)" \
  || { echo "FAIL: umbrella header not installed"; exit 1; }
lib=$(find "$dest" -name 'libgstdmakit-1.0.so.0*' -type f | head -n1)
[ -n "$lib" ] || { echo "FAIL: libgstdmakit-1.0.so.0 not installed"; exit 1; }
plugin=$(find "$dest" -path '*gstreamer-1.0/libgstdmakit.so' | head -n1)
[ -n "$plugin" ] || { echo "FAIL: plugin libgstdmakit.so not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$dest
for lang in c c++; do
  compiler=cc; [ $lang = c++ ] && compiler=c++
  $compiler -x $lang "$src/docs/examples/dmakit-pool-info.c" -Werror -Wall \
    $(pkg-config --cflags --libs gstreamer-dmakit-1.0 gstreamer-video-1.0) -o "$dest/app-$lang"
done
export LD_LIBRARY_PATH=$(dirname "$lib") GST_PLUGIN_SYSTEM_PATH_1_0= GST_PLUGIN_PATH_1_0=$(dirname "$plugin")
export GST_REGISTRY=$dest/registry.bin
out=$("$dest/app-c" 320x240 20)
echo "$out"
grep -q '^backend: ' <<<"$out" || { echo "FAIL: example printed no backend"; exit 1; }
grep -q 'acquires=(guint64)20' <<<"$out" || grep -q 'acquires=(guint)20' <<<"$out" \
  || { echo "FAIL: example's pool did not count 20 acquires"; exit 1; }
gst-inspect-1.0 dmakit | grep -q "Filename *$plugin" || { echo "FAIL: installed plugin not found"; exit 1; }
echo "installed library, headers, pkg-config file and plugin work"
