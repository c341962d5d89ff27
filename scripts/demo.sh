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

echo
log "zero-copy crop and recording: $SRC ! $CROP ! dmakitsink location=$RAW"
# shellcheck disable=SC2086
gst-launch-1.0 -m $SRC ! $CROP ! dmakitsink name=sink sync=false location="$RAW" >"$OUT/zero-copy.log" 2>&1 \
  || { cat "$OUT/zero-copy.log"; die "the zero-copy pipeline failed"; }
crop_stats=$(grep -o 'dmakitcrop-stats.*' "$OUT/zero-copy.log" || true)
sink_stats=$(grep -o 'dmakitsink-stats.*' "$OUT/zero-copy.log" || true)
[ -n "$crop_stats" ] && [ -n "$sink_stats" ] || die "no stats messages in $OUT/zero-copy.log"
echo "  $crop_stats"
echo "  $sink_stats"
zc_secs=$(elapsed_s "$OUT/zero-copy.log")
zc_frames=$(stat_u64 "$crop_stats" frames)
zc_meta=$(stat_u64 "$crop_stats" zero-copy-frames)
zc_copied=$(stat_u64 "$crop_stats" copied-frames)
backend=$(stat_str "$sink_stats" backend)
written=$(stat_u64 "$sink_stats" written)
sink_zc=$(stat_u64 "$sink_stats" zero-copy)
bytes=$(stat_u64 "$sink_stats" bytes-written)
[ "$written" = "$FRAMES" ] || die "dmakitsink wrote $written of $FRAMES frames"
[ "$(stat -c %s "$RAW")" = "$bytes" ] || die "$RAW is not $bytes bytes"
echo "  pool backend chosen: $backend$([ "$backend" = memfd ] && echo ' (no DMA-BUF device here: memfd fallback, never reported as DMA-BUF)')"
echo "  $zc_frames frames: $zc_meta cropped by meta (zero-copy), $zc_copied copied; sink: $sink_zc in dmakit/DMA-BUF memory"
echo "  $(fps_of "$zc_frames" "$zc_secs") fps (${zc_secs} s for $zc_frames frames, $((bytes / 1024 / 1024)) MiB written)"
SUMMARY+=("zero-copy: $zc_meta/$zc_frames frames cropped by meta, $zc_copied copied, backend $backend, $(fps_of "$zc_frames" "$zc_secs") fps, $written frames recorded to $RAW")

echo
log "the same crop into fakesink, which takes no crop meta: dmakitcrop must copy"
# shellcheck disable=SC2086
gst-launch-1.0 -m $SRC ! $CROP ! fakesink sync=false >"$OUT/copy.log" 2>&1 \
  || { cat "$OUT/copy.log"; die "the copy pipeline failed"; }
copy_stats=$(grep -o 'dmakitcrop-stats.*' "$OUT/copy.log" || true)
[ -n "$copy_stats" ] || die "no stats message in $OUT/copy.log"
echo "  $copy_stats"
cp_secs=$(elapsed_s "$OUT/copy.log")
cp_copied=$(stat_u64 "$copy_stats" copied-frames)
cp_bytes=$(stat_u64 "$copy_stats" bytes-copied)
cp_reason=$(stat_str "$copy_stats" last-copy-reason)
echo "  $cp_copied frames copied ($((cp_bytes / 1024 / 1024)) MiB): $cp_reason"
echo "  $(fps_of "$cp_copied" "$cp_secs") fps"
SUMMARY+=("copy path: $cp_copied frames copied ($cp_reason), $(fps_of "$cp_copied" "$cp_secs") fps")

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
