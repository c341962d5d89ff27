#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the GstDmakitRoiMeta text-parser fuzzer with clang++ and libFuzzer
# (plus AddressSanitizer and UndefinedBehaviorSanitizer) and runs it for a
# bounded time over the seed corpus. The project itself is built with g++, so
# the parser's sources are compiled again here, self-contained.
#
# usage: run-fuzz.sh SOURCE_ROOT BUILD_ROOT WORK_DIR [SECONDS]
#   SOURCE_ROOT  the dmakit source tree
#   BUILD_ROOT   a configured build tree (for config.h)
#   WORK_DIR     where the binary, the working corpus and crash files go
#   SECONDS      how long to fuzz (default 20; DMAKIT_FUZZ_SECONDS overrides)
# Exit status: 0 when no property failed, 1 when the fuzzer found a crash
# (the reproducer is left in WORK_DIR/crash-*), 77 (skip) without the tools.
set -eu

SRC=$1
BUILD=$2
WORK=$3
SECONDS_TO_RUN=${DMAKIT_FUZZ_SECONDS:-${4:-20}}
CXX=${DMAKIT_FUZZ_CXX:-clang++}

if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "SKIP: $CXX not found (install clang and libclang-rt-14-dev)"
  exit 77
fi

mkdir -p "$WORK"
BIN=$WORK/roimeta-fuzzer
PKGS="gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 gstreamer-allocators-1.0"

# Rebuild only when a source is newer than the binary.
need_build=1
if [ -x "$BIN" ]; then
  need_build=0
  for f in "$SRC/gst/dmakit/gstdmakitroimeta.cpp" "$SRC/gst/dmakit/gstdmakitroimeta.h" \
           "$SRC/gst/dmakit/dmakit.cpp" "$SRC/gst/dmakit/dmakit-prelude.h" \
           "$SRC/tests/check/fuzz/roimeta-fuzzer.cpp" "$0"; do
    if [ "$f" -nt "$BIN" ]; then need_build=1; fi
  done
fi
if [ $need_build -eq 1 ]; then
  echo "building $BIN with $CXX"
  # shellcheck disable=SC2046
  "$CXX" -std=c++17 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -DHAVE_CONFIG_H -DGST_USE_UNSTABLE_API -DBUILDING_GST_DMAKIT \
    -I"$BUILD" -I"$SRC" $(pkg-config --cflags $PKGS) \
    "$SRC/gst/dmakit/gstdmakitroimeta.cpp" "$SRC/gst/dmakit/dmakit.cpp" \
    "$SRC/tests/check/fuzz/roimeta-fuzzer.cpp" \
    $(pkg-config --libs $PKGS) -o "$BIN.tmp"
  mv "$BIN.tmp" "$BIN"
fi

# Work on a copy of the seed corpus: what the fuzzer adds stays in WORK_DIR.
CORPUS=$WORK/corpus
mkdir -p "$CORPUS"
cp "$SRC"/tests/check/fuzz/corpus/roimeta/* "$CORPUS"/

export GST_REGISTRY="$WORK/fuzz.registry"
# Leaks are checked per input by libFuzzer; the exit-time check would only
# report GLib's deliberate one-time leaks (see roimeta-fuzzer.cpp).
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:leak_check_at_exit=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export G_SLICE=always-malloc

cd "$WORK"
rm -f crash-* leak-* timeout-* oom-*
echo "fuzzing the ROI text parser for ${SECONDS_TO_RUN}s over $(ls "$CORPUS" | wc -l) corpus files"
# libFuzzer exits 77 on a crash by default, which meson reads as "skipped".
"$BIN" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -error_exitcode=1 -timeout_exitcode=1 -detect_leaks=1 \
  -dict="$SRC/tests/check/fuzz/roimeta.dict" -print_final_stats=1 "$CORPUS"
