#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds a libFuzzer target with clang++ (plus AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs it for a bounded time over its seed
# corpus. The project itself is built with g++, so the sources a target needs
# are compiled again here, self-contained.
#
# usage: run-fuzz.sh SOURCE_ROOT BUILD_ROOT WORK_DIR [SECONDS] [TARGET]
#   SOURCE_ROOT  the dmakit source tree
#   BUILD_ROOT   a configured build tree (for config.h and the stock-plugin links)
#   WORK_DIR     where the binary, the working corpus and crash files go
#   SECONDS      how long to fuzz (default 20; DMAKIT_FUZZ_SECONDS overrides)
#   TARGET       roimeta (default): the GstDmakitRoiMeta text form
#                properties: property strings of dmakitcrop and dmakitsink
#                caps: caps and GstDmakitBufferPool configs, dmakitcrop/sink caps
# Each TARGET has tests/check/fuzz/TARGET-fuzzer.cpp, a seed corpus in
# tests/check/fuzz/corpus/TARGET and a dictionary tests/check/fuzz/TARGET.dict.
# Exit status: 0 when no property failed, 1 when the fuzzer found a crash
# (the reproducer is left in WORK_DIR/crash-*), 77 (skip) without the tools.
# Reproduce a crash: WORK_DIR/TARGET-fuzzer WORK_DIR/crash-... (same env).
set -eu

SRC=$1
BUILD=$2
WORK=$3
SECONDS_TO_RUN=${DMAKIT_FUZZ_SECONDS:-${4:-20}}
TARGET=${5:-roimeta}
CXX=${DMAKIT_FUZZ_CXX:-clang++}

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "SKIP: $CXX not found (install clang and libclang-rt-14-dev)"
  exit 77
fi

FUZZ_DIR=$SRC/tests/check/fuzz
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
BIN=$WORK/$TARGET-fuzzer
PKGS="gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 gstreamer-allocators-1.0"
CXXFLAGS="-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -DHAVE_CONFIG_H -DGST_USE_UNSTABLE_API -DBUILDING_GST_DMAKIT"

case $TARGET in
  roimeta)
    SOURCES="$SRC/gst/dmakit/gstdmakitroimeta.cpp $SRC/gst/dmakit/dmakit.cpp"
    DEPS="$SRC/gst/dmakit/gstdmakitroimeta.cpp $SRC/gst/dmakit/gstdmakitroimeta.h \
          $SRC/gst/dmakit/dmakit.cpp $SRC/gst/dmakit/dmakit-prelude.h"
    ;;
  properties|caps)
    # the library and both elements (not the tracer); elements register
    # themselves with GST_ELEMENT_REGISTER (name, NULL)
    PKGS="$PKGS gstreamer-check-1.0 libdrm"
    SOURCES="$SRC/gst/dmakit/dmakit.cpp $SRC/gst/dmakit/gstdmakitallocator.cpp \
             $SRC/gst/dmakit/gstdmakitbufferpool.cpp $SRC/gst/dmakit/dmakit-pool-*.cpp \
             $SRC/gst/dmakit/dmakit-mlock.cpp $SRC/gst/dmakit/gstdmakitroimeta.cpp \
             $BUILD/gst/dmakit/dmakit-enumtypes.c \
             $SRC/gst/elements/dmakit-videocopy.cpp \
             $SRC/gst/elements/gstdmakitcrop.cpp $SRC/gst/elements/dmakitcrop-*.cpp \
             $SRC/gst/elements/gstdmakitsink.cpp $SRC/gst/elements/dmakitsink-*.cpp \
             $BUILD/gst/elements/dmakit-enumtypes.cpp"
    DEPS="$SOURCES $SRC/gst/dmakit/*.h $SRC/gst/elements/*.h"
    # the enum GTypes meson generates (dmakit-enumtypes.{h,cpp})
    CXXFLAGS="$CXXFLAGS -I$BUILD/gst/elements -I$SRC/gst/elements -I$BUILD/gst/dmakit -I$SRC/gst/dmakit"
    ;;
  *)
    echo "unknown fuzz target $TARGET" >&2
    exit 2
    ;;
esac

# Rebuild only when a source is newer than the binary.
need_build=1
if [ -x "$BIN" ]; then
  need_build=0
  # shellcheck disable=SC2086
  for f in $DEPS "$FUZZ_DIR/$TARGET-fuzzer.cpp" "$0"; do
    if [ "$f" -nt "$BIN" ]; then need_build=1; fi
  done
fi
if [ $need_build -eq 1 ]; then
  echo "building $BIN with $CXX"
  started=$(date +%s)
  OBJ=$WORK/obj
  rm -rf "$OBJ"
  mkdir -p "$OBJ"
  # one object per source, two compilers at a time
  # shellcheck disable=SC2086
  for f in $SOURCES "$FUZZ_DIR/$TARGET-fuzzer.cpp"; do echo "$f"; done |
    CXX=$CXX CXXFLAGS="$CXXFLAGS -I$BUILD -I$SRC $(pkg-config --cflags $PKGS)" OBJ=$OBJ \
    xargs -P 2 -I '{}' sh -c '"$CXX" $CXXFLAGS -DG_LOG_DOMAIN=\"GStreamer-Dmakit\" \
      -c "$1" -o "$OBJ/$(basename "$1").o"' sh '{}'
  # shellcheck disable=SC2046,SC2086
  "$CXX" $CXXFLAGS "$OBJ"/*.o $(pkg-config --libs $PKGS) -o "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
  echo "built in $(( $(date +%s) - started )) s"
fi

# Work on a copy of the seed corpus: what the fuzzer adds stays in WORK_DIR.
CORPUS=$WORK/corpus
mkdir -p "$CORPUS"
cp "$FUZZ_DIR"/corpus/"$TARGET"/* "$CORPUS"/

export GST_REGISTRY="$WORK/fuzz.registry"
export GST_REGISTRY_FORK=no
export DMAKIT_FUZZ_WORK="$WORK"
if [ "$TARGET" = roimeta ]; then
  export GST_PLUGIN_SYSTEM_PATH_1_0="" GST_PLUGIN_PATH_1_0=""
else
  # videotestsrc and capsfilter for the pipelines the properties target runs
  export GST_PLUGIN_SYSTEM_PATH_1_0="" GST_PLUGIN_PATH_1_0="$BUILD/tests/stock-plugins"
fi
# Leaks are checked per input by libFuzzer; the exit-time check would only
# report GLib's deliberate one-time leaks (see roimeta-fuzzer.cpp). The caps
# target's leak stacks go through uninstrumented GLib/GStreamer (the caps
# parser): unwind them fully (malloc gets slower) so that lsan-fuzz.supp can
# match them.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:leak_check_at_exit=0"
if [ "$TARGET" = caps ]; then
  ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0:malloc_context_size=12"
fi
# LeakSanitizer: the project's one-time GLib/GStreamer entries plus the
# fuzz-only ones.
cat "$SRC/tests/check/suppressions/lsan.supp" "$SRC/tests/check/suppressions/lsan-fuzz.supp" \
  >"$WORK/lsan.supp"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$WORK/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export G_SLICE=always-malloc

cd "$WORK"
rm -f crash-* leak-* timeout-* oom-*
echo "fuzzing target '$TARGET' for ${SECONDS_TO_RUN}s over $(ls "$CORPUS" | wc -l) corpus files"
# libFuzzer exits 77 on a crash by default, which meson reads as "skipped".
"$BIN" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -error_exitcode=1 -timeout_exitcode=1 -detect_leaks=1 \
  -dict="$FUZZ_DIR/$TARGET.dict" -print_final_stats=1 "$CORPUS"
