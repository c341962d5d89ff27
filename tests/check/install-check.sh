#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The installed tree, as README.md's "Installing" section describes it, staged
# with DESTDIR (the configured prefix, e.g. /usr/local, under a scratch
# directory). Checks that:
#  - the plugin finds libgstdmakit-1.0 on its own: outside GStreamer's libdir it
#    carries RUNPATH $ORIGIN/.. (relative, so it holds in the staging tree as
#    in the final one), and ldd resolves the library to the installed copy;
#  - gst-inspect-1.0 loads the installed plugin with GST_PLUGIN_PATH alone (no
#    LD_LIBRARY_PATH), from a fresh registry, nothing blacklisted, and a
#    pipeline through dmakitsink runs with it;
#  - a third-party program compiles against the installed headers with the
#    installed gstreamer-dmakit-1.0.pc and runs against the installed library,
#    with -Wl,-rpath (no LD_LIBRARY_PATH) and with LD_LIBRARY_PATH;
#  - with introspection built, Python finds GstDmakit-1.0 through
#    GI_TYPELIB_PATH and LD_LIBRARY_PATH.
# usage: install-check.sh BUILD_DIR SOURCE_DIR [STOCK_PLUGIN_DIR]
set -euo pipefail
build=$1 src=$2 stock=${3:-}
fail() { echo "FAIL: $*"; exit 1; }
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
unset LD_LIBRARY_PATH GST_PLUGIN_PATH GI_TYPELIB_PATH
export GST_PLUGIN_SYSTEM_PATH_1_0='' GST_PLUGIN_SYSTEM_PATH='' GST_REGISTRY_FORK=no

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
pc=$(find "$dest" -name gstreamer-dmakit-1.0.pc | head -n1)
[ -n "$pc" ] || fail "gstreamer-dmakit-1.0.pc not installed"
test -f "$(find "$dest" -path '*include/gstreamer-1.0/gst/dmakit/dmakit.h' | head -n1)" \
  || fail "umbrella header not installed"
lib=$(find "$dest" -name 'libgstdmakit-1.0.so.0*' -type f | head -n1)
[ -n "$lib" ] || fail "libgstdmakit-1.0.so.0 not installed"
libdir=$(dirname "$lib")
plugin=$(find "$dest" -path '*gstreamer-1.0/libgstdmakit.so' | head -n1)
[ -n "$plugin" ] || fail "plugin libgstdmakit.so not installed"
plugindir=$(dirname "$plugin")
[ "$plugindir" = "$libdir/gstreamer-1.0" ] || fail "plugin in $plugindir, library in $libdir"

# ---- the plugin finds its library -------------------------------------------
final_libdir=${libdir#"$dest"}
runpath=$(readelf -d "$plugin" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\1 \2/p')
echo "installed to $final_libdir (GStreamer's libdir: $(pkg-config --variable=libdir gstreamer-1.0))"
echo "plugin: ${runpath:-no RUNPATH}"
if [ "$final_libdir" = "$(pkg-config --variable=libdir gstreamer-1.0)" ]; then
  # next to libgstreamer-1.0: the loader's own search finds it, no RUNPATH
  [ -z "$runpath" ] || fail "a plugin in GStreamer's libdir carries $runpath"
  export LD_LIBRARY_PATH=$libdir # only because the tree is staged, not installed
else
  # shellcheck disable=SC2016 # a literal $ORIGIN
  [ "$runpath" = 'RUNPATH $ORIGIN/..' ] \
    || fail "the plugin in $plugindir has ${runpath:-no RUNPATH}, not RUNPATH \$ORIGIN/..: it cannot find libgstdmakit-1.0.so.0 in $final_libdir"
fi
resolved=$(ldd "$plugin" | sed -n 's/^\s*libgstdmakit-1\.0\.so\.0 => \(\S*\).*/\1/p')
[ -n "$resolved" ] && [ "$(realpath "$resolved")" = "$(realpath "$lib")" ] \
  || fail "the plugin resolves libgstdmakit-1.0.so.0 to '${resolved:-not found}', not $lib"

# ---- GStreamer loads it with GST_PLUGIN_PATH alone ---------------------------
export GST_REGISTRY=$dest/registry.bin GST_PLUGIN_PATH_1_0=$plugindir
out=$(gst-inspect-1.0 --plugin dmakit 2>&1) || { echo "$out"; fail "gst-inspect-1.0 --plugin dmakit failed"; }
grep -q "Filename *$plugin" <<<"$out" || { echo "$out"; fail "installed plugin not loaded"; }
for e in dmakitcrop dmakitsink; do
  grep -q "^  $e:" <<<"$out" || { echo "$out"; fail "the installed plugin lacks $e"; }
done
blacklisted=$(gst-inspect-1.0 -b 2>&1)
grep -q '^Total count: 0 ' <<<"$blacklisted" || { echo "$blacklisted"; fail "blacklisted plugins in the registry"; }
if [ -n "$stock" ]; then
  export GST_PLUGIN_PATH_1_0=$plugindir:$stock
  gst-launch-1.0 -q fakesrc num-buffers=3 sizetype=fixed sizemax=4096 filltype=zero \
    ! dmakitsink location="$dest/out.bin" || fail "a pipeline through the installed dmakitsink failed"
  [ "$(stat -c %s "$dest/out.bin")" = 12288 ] || fail "the installed dmakitsink wrote $(stat -c %s "$dest/out.bin") bytes, not 12288"
  export GST_PLUGIN_PATH_1_0=$plugindir
fi
echo "gst-inspect-1.0 and gst-launch-1.0 load $plugin without LD_LIBRARY_PATH"

# ---- a program built with pkg-config -----------------------------------------
# The .pc file names the final prefix; a copy pointing into the staging tree
# stands in for it (PKG_CONFIG_SYSROOT_DIR would move GStreamer's paths too).
prefix=$(sed -n 's/^prefix=//p' "$pc")
mkdir "$dest/pc"
sed "s|^prefix=.*|prefix=$dest$prefix|" "$pc" >"$dest/pc/gstreamer-dmakit-1.0.pc"
export PKG_CONFIG_PATH=$dest/pc
[ "$(pkg-config --variable=libdir gstreamer-dmakit-1.0)" = "$libdir" ] \
  || fail "pkg-config's libdir $(pkg-config --variable=libdir gstreamer-dmakit-1.0) is not $libdir"
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -x c "$src/docs/examples/dmakit-pool-info.c" -Werror -Wall \
  $(pkg-config --cflags --libs gstreamer-dmakit-1.0 gstreamer-video-1.0) \
  -Wl,-rpath,"$(pkg-config --variable=libdir gstreamer-dmakit-1.0)" -o "$dest/app-c"
# shellcheck disable=SC2046
c++ -x c++ "$src/docs/examples/dmakit-pool-info.c" -Werror -Wall \
  $(pkg-config --cflags --libs gstreamer-dmakit-1.0 gstreamer-video-1.0) -o "$dest/app-c++"
check_app() {
  local out
  out=$("$@") || { echo "$out"; fail "$* failed"; }
  echo "$out"
  grep -q '^backend: ' <<<"$out" || fail "example printed no backend"
  grep -q 'acquires=(guint64)20' <<<"$out" || grep -q 'acquires=(guint)20' <<<"$out" \
    || fail "example's pool did not count 20 acquires"
}
check_app "$dest/app-c" 320x240 20
LD_LIBRARY_PATH=$libdir check_app "$dest/app-c++" 320x240 20

# ---- introspection -------------------------------------------------------------
typelib=$(find "$dest" -name 'GstDmakit-1.0.typelib' | head -n1)
py=/usr/bin/python3 # Debian's, which has python3-gi (a PATH python may not)
[ -x "$py" ] || py=python3
if [ -z "$typelib" ]; then
  echo "no typelib installed (introspection not built): Python not checked"
elif ! "$py" -c 'import gi' 2>/dev/null; then
  echo "$py has no gi module (python3-gi): Python not checked"
else
  GI_TYPELIB_PATH=$(dirname "$typelib") LD_LIBRARY_PATH=$libdir "$py" -c '
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstDmakit", "1.0")
from gi.repository import Gst, GstDmakit
Gst.init(None)
print("python:", GstDmakit.BufferPool.new ())
' || fail "Python cannot use the installed GstDmakit-1.0 typelib"
fi
echo "installed library, headers, pkg-config file, plugin and typelib work"
