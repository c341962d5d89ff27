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

# --plugin: the plugin, not a feature of the same name (the tracer is "dmakit" too)
log "gst-inspect-1.0 --plugin dmakit"
gst-inspect-1.0 --plugin dmakit | tee "$OUT/inspect.txt"
grep -q "^  Filename *$DMAKIT_BUILD/gst/elements/libgstdmakit.so" "$OUT/inspect.txt" \
  || die "the dmakit plugin was not loaded from $DMAKIT_BUILD"
n_elements=$(grep -c '^  dmakit[a-z]*:' "$OUT/inspect.txt" || true)
SUMMARY+=("plugin dmakit $(sed -n 's/^  Version *//p' "$OUT/inspect.txt") found in the build tree, $n_elements element(s)")

# ---- dmakitcrop + dmakitsink: a real pipeline -------------------------------
# Both elements post their stats as an element message at EOS; gst-launch-1.0 -m
# prints them ("dmakitcrop-stats, frames=(guint64)300, ...").
stat_u64() { sed -n "s/.*[ ,]$2=(guint64)\([0-9]*\).*/\1/p" <<<"$1" | head -n1; }
stat_str() { sed -n "s/.*[ ,]$2=(string)\"\{0,1\}\([^\";]*\)\"\{0,1\}[,;].*/\1/p" <<<"$1" | head -n1 | sed 's/\\\(.\)/\1/g'; }
elapsed_s() { sed -n 's/^Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\)$/\1 \2 \3/p' "$1" |
  awk '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 }'; }
fps_of() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "?" }'; }

FRAMES=300 SRC_W=1280 SRC_H=720 CROP_L=320 CROP_R=320 CROP_T=180 CROP_B=180
CROP_W=$((SRC_W - CROP_L - CROP_R)) CROP_H=$((SRC_H - CROP_T - CROP_B))
SRC="videotestsrc num-buffers=$FRAMES ! video/x-raw,format=NV12,width=$SRC_W,height=$SRC_H,framerate=30/1"
CROP="dmakitcrop name=crop left=$CROP_L right=$CROP_R top=$CROP_T bottom=$CROP_B"
RAW="$OUT/cropped-${CROP_W}x${CROP_H}.nv12"
RAW_COPY="$OUT/cropped-${CROP_W}x${CROP_H}-copied.nv12"

# What the backend the sink reports (its stats) means for the memory.
backend_kind() {
  case "$1" in
    memfd) echo "memfd memory, not DMA-BUF: this machine has no usable DMA-BUF device" ;;
    dma-heap | udmabuf | drm-dumb) echo "DMA-BUF memory from $1" ;;
    *) echo "backend '$1'" ;;
  esac
}

# Runs "$SRC ! $CROP MODE ! dmakitsink location=FILE" with -m and checks what
# both elements report; sets run_* from their stats messages.
record() {
  local what=$1 mode=$2 file=$3 log=$4
  echo
  log "$what: $SRC ! $CROP $mode ! dmakitsink location=$file"
  # shellcheck disable=SC2086
  gst-launch-1.0 -m $SRC ! $CROP $mode ! dmakitsink name=sink sync=false location="$file" >"$log" 2>&1 \
    || { cat "$log"; die "the $what pipeline failed"; }
  local crop_stats sink_stats
  crop_stats=$(grep -o 'dmakitcrop-stats.*' "$log" || true)
  sink_stats=$(grep -o 'dmakitsink-stats.*' "$log" || true)
  [ -n "$crop_stats" ] && [ -n "$sink_stats" ] || die "no stats messages in $log"
  echo "  $crop_stats"
  echo "  $sink_stats"
  run_secs=$(elapsed_s "$log")
  run_frames=$(stat_u64 "$crop_stats" frames)
  run_meta=$(stat_u64 "$crop_stats" zero-copy-frames)
  run_copied=$(stat_u64 "$crop_stats" copied-frames)
  run_copied_mib=$(($(stat_u64 "$crop_stats" bytes-copied) / 1024 / 1024))
  run_path=$(stat_str "$crop_stats" path)
  run_backend=$(stat_str "$sink_stats" backend)
  run_written=$(stat_u64 "$sink_stats" written)
  run_sink_zc=$(stat_u64 "$sink_stats" zero-copy)
  run_sink_copies=$(stat_u64 "$sink_stats" copies)
  run_bytes=$(stat_u64 "$sink_stats" bytes-written)
  [ -n "$run_backend" ] || die "dmakitsink reported no backend in $log"
  [ "$run_written" = "$FRAMES" ] || die "dmakitsink wrote $run_written of $FRAMES frames"
  [ "$(stat -c %s "$file")" = "$run_bytes" ] || die "$file is not $run_bytes bytes"
  run_fps=$(fps_of "$run_frames" "$run_secs")
  echo "  dmakitcrop: $run_meta frames cropped by meta, $run_copied copied ($run_copied_mib MiB), path $run_path"
  echo "  dmakitsink: $run_written frames, $((run_bytes / 1024 / 1024)) MiB written; $run_sink_zc arrived in" \
    "the pool's memory ($(backend_kind "$run_backend")), $run_sink_copies copied by the sink"
  echo "  $run_fps fps (${run_secs} s for $run_frames frames)"
}

# The comparison: the same pipeline and the same sink, recording the same
# frames to a file; only dmakitcrop's path differs (mode=copy forces the copy).
record "zero-copy crop, recorded" "" "$RAW" "$OUT/zero-copy.log"
zc_meta=$run_meta zc_frames=$run_frames zc_copied=$run_copied zc_fps=$run_fps zc_backend=$run_backend
zc_bytes=$run_bytes
[ "$zc_meta" = "$FRAMES" ] && [ "$zc_copied" = 0 ] \
  || die "expected $FRAMES frames cropped by meta, got $zc_meta (copied $zc_copied)"
record "copying crop, recorded the same way" "mode=copy" "$RAW_COPY" "$OUT/copy.log"
cp_copied=$run_copied cp_copied_mib=$run_copied_mib cp_fps=$run_fps
[ "$cp_copied" = "$FRAMES" ] || die "mode=copy copied $cp_copied of $FRAMES frames"
cmp -s "$RAW" "$RAW_COPY" || die "$RAW and $RAW_COPY differ: the meta path and the copy path disagree"
echo "  the two recordings are identical ($((zc_bytes / 1024 / 1024)) MiB each)"

# One run says little on a shared machine: two more of each, alternated, and
# the median of the three.
echo
log "timing: each of the two recordings twice more, alternated"
zc_all=("$zc_fps") cp_all=("$cp_fps")
for _ in 1 2; do
  for mode in "" mode=copy; do
    # shellcheck disable=SC2086
    gst-launch-1.0 $SRC ! $CROP $mode ! dmakitsink sync=false location="$OUT/timing.nv12" \
      >"$OUT/timing.log" 2>&1 || { cat "$OUT/timing.log"; die "the timing run failed"; }
    f=$(fps_of "$FRAMES" "$(elapsed_s "$OUT/timing.log")")
    if [ -z "$mode" ]; then zc_all+=("$f"); else cp_all+=("$f"); fi
  done
done
rm -f "$OUT/timing.nv12"
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
zc_med=$(median "${zc_all[@]}") cp_med=$(median "${cp_all[@]}")
echo "  by meta: ${zc_all[*]} fps (median $zc_med); mode=copy: ${cp_all[*]} fps (median $cp_med)"
SUMMARY+=("memory: dmakitsink's pool used backend $zc_backend ($(backend_kind "$zc_backend"))")
SUMMARY+=("zero-copy vs copy, same pipeline, both recorded by dmakitsink ($FRAMES frames, $((zc_bytes / 1024 / 1024)) MiB each, identical files):" \
  "  by meta:   $zc_meta/$zc_frames frames cropped without a copy (0 MiB memcpy), median $zc_med fps of 3 runs" \
  "  mode=copy: $cp_copied/$FRAMES frames copied ($cp_copied_mib MiB memcpy), median $cp_med fps of 3 runs" \
  "  (the frame rate includes videotestsrc drawing ${SRC_W}x${SRC_H} frames and the file writes, the same in both)")

# Where the copy comes from in practice: a sink that takes no crop meta.
echo
log "the crop into fakesink, which takes no crop meta (mode=auto): dmakitcrop must copy"
# shellcheck disable=SC2086
gst-launch-1.0 -m $SRC ! $CROP ! fakesink sync=false >"$OUT/fakesink.log" 2>&1 \
  || { cat "$OUT/fakesink.log"; die "the fakesink pipeline failed"; }
fs_stats=$(grep -o 'dmakitcrop-stats.*' "$OUT/fakesink.log" || true)
[ -n "$fs_stats" ] || die "no stats message in $OUT/fakesink.log"
echo "  $fs_stats"
fs_copied=$(stat_u64 "$fs_stats" copied-frames)
fs_reason=$(stat_str "$fs_stats" last-copy-reason)
echo "  $fs_copied frames copied: $fs_reason"
SUMMARY+=("into fakesink (auto): $fs_copied/$FRAMES frames copied ($fs_reason)")

echo
PNG="$OUT/cropped-frame.png"
FRAME_BYTES=$((CROP_W * CROP_H * 3 / 2))
PICK=$((FRAMES / 2))
log "PNG of cropped frame $PICK: $PNG"
dd if="$RAW" of="$OUT/frame.nv12" bs="$FRAME_BYTES" skip="$PICK" count=1 status=none
rm -f "$PNG"
if gst-inspect-1.0 pngenc >/dev/null 2>&1 && gst-inspect-1.0 rawvideoparse >/dev/null 2>&1; then
  gst-launch-1.0 -q filesrc location="$OUT/frame.nv12" \
    ! rawvideoparse format=nv12 width=$CROP_W height=$CROP_H framerate=1/1 \
    ! videoconvert ! pngenc ! filesink location="$PNG"
else
  # ImageMagick cannot read NV12: let GStreamer make RGB, ImageMagick the PNG.
  gst-launch-1.0 -q filesrc location="$OUT/frame.nv12" \
    ! rawvideoparse format=nv12 width=$CROP_W height=$CROP_H framerate=1/1 \
    ! videoconvert ! video/x-raw,format=RGB ! filesink location="$OUT/frame.rgb"
  convert -size "${CROP_W}x${CROP_H}" -depth 8 "rgb:$OUT/frame.rgb" "$PNG"
fi
[ "$(head -c 8 "$PNG" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || die "$PNG is not a PNG"
echo "  ${CROP_W}x${CROP_H}, $(stat -c %s "$PNG") bytes"
SUMMARY+=("PNG of cropped frame $PICK (${CROP_W}x${CROP_H}): $PNG")

echo
log "summary"
for line in "${SUMMARY[@]}"; do echo "  - $line"; done
echo "  outputs in $OUT"
