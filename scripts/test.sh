#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what is missing, build, and run every test tier. Exits non-zero when
# any tier fails. Tiers (in order):
#   host      meson test on the normal build
#   asan      AddressSanitizer + UBSan build (leak detection on), whole suite
#   tsan      ThreadSanitizer build, the threading tests (suite 'threads')
#   valgrind  memcheck over the whole host suite, "definitely lost" fails
#   vm        the suite again on a real kernel with dma-heaps/udmabuf/vgem/vivid
#   gst126    the host suite on GStreamer 1.26: a Debian 13 root
#             (scripts/debian13-root.sh, cached outside the checkout), the
#             project configured with --werror and built inside it (build-gst126)
#   vm-gst126 the tests that need a real kernel's devices, in the VM, on the
#             Debian 13 root with the build-gst126 build (tests/vm/run --root)
# DMAKIT_TIERS="host asan" runs a subset locally; DMAKIT_SKIP_VM=1 skips both
# VM tiers, DMAKIT_SKIP_GST126=1 both GStreamer 1.26 tiers. CI runs them all.
# Each tier prints its counts and the reason of every skipped test; the last
# line, "dmakit: N passed, N failed, N skipped", is the sum over the tiers.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dmakit_install_deps
dmakit_build

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
FAILED_TIERS=()
TIER_LINES=()
T_ALL=$SECONDS

# Count the results in meson's JSON test log $1: "passed failed skipped".
count_log() {
  local log=$1
  [ -f "$log" ] || { echo "0 1 0"; return; }
  python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
}

# Print why each test skipped (exit status 77) in meson's JSON test log $2:
# the test's own output, which says what it lacks.
print_skip_reasons() {
  local name=$1 log=$2
  [ -f "$log" ] || return 0
  python3 - "$name" "$log" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
skips = []
for line in open(path):
    if line.strip():
        r = json.loads(line)
        if r.get("result") == "SKIP":
            skips.append(r)
if skips:
    print(f"\033[1m[dmakit]\033[0m tier '{name}': {len(skips)} skipped, because:")
for r in skips:
    out = (r.get("stdout") or "") + (r.get("stderr") or "")
    lines = [l.rstrip() for l in out.splitlines() if l.strip()]
    # the reason is what the test printed last (a check binary prints it on stdout)
    reason = [l for l in lines if "SKIP" in l.upper()] or lines[-3:] or ["(the test printed no reason)"]
    print(f"    {r['name']}: " + "\n        ".join(reason[-3:]))
PY
}

# add_counts NAME P F S RC [SECONDS]: add a tier's counts to the totals.
add_counts() {
  local name=$1 p=$2 f=$3 s=$4 rc=$5 secs=${6:-}
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f)); TOTAL_SKIP=$((TOTAL_SKIP + s))
  TIER_LINES+=("$(printf '%-10s %4s passed, %3s failed, %3s skipped%s' "$name" "$p" "$f" "$s" "${secs:+  (${secs} s)}")")
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then FAILED_TIERS+=("$name"); fi
}

# run_tier NAME BUILD_DIR [meson test args...]
run_tier() {
  local name=$1 dir=$2; shift 2
  log "tier '$name': meson test $*"
  local rc=0 setup="" a prev="" t0=$SECONDS p f s
  for a in "$@"; do [ "$prev" = --setup ] && setup=$a; prev=$a; done
  local jlog="$dir/meson-logs/testlog${setup:+-$setup}.json"
  rm -f "$jlog"
  local pre=()
  [ -z "${IN_GST126:-}" ] || pre=("${GST126_RUN[@]}")
  "${pre[@]}" meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)" "$@" || rc=$?
  read -r p f s < <(count_log "$jlog")
  print_skip_reasons "$name" "$jlog"
  log "tier '$name': $p passed, $f failed, $s skipped"
  add_counts "$name" "$p" "$f" "$s" "$rc" $((SECONDS - t0))
}

TIERS=${DMAKIT_TIERS:-host asan tsan valgrind vm gst126 vm-gst126}
want() { case " $TIERS " in *" $1 "*) return 0;; esac; return 1; }

# A sanitizer build next to the main one, configured once.
sanitizer_build() {
  local dir=$1 sanitize=$2
  if [ ! -f "$dir/build.ninja" ]; then
    log "configuring $dir (b_sanitize=$sanitize)"
    meson setup "$dir" "$DMAKIT_ROOT" --werror -Dtests=enabled -Dintrospection=disabled \
      -Dbenchmarks=disabled -Dfuzzing=disabled -Db_sanitize="$sanitize" -Db_lundef=false \
      -Dbuildtype=debug
  fi
  ninja -C "$dir"
}

want host && run_tier host "$DMAKIT_BUILD"
# A tier whose build fails counts as one failure; the other tiers still run.
build_failed() {
  log "tier '$1': build FAILED"
  add_counts "$1" 0 1 0 1
}
if want asan; then
  if sanitizer_build "$DMAKIT_ROOT/build-asan" address,undefined; then
    run_tier asan "$DMAKIT_ROOT/build-asan" --setup asan
  else build_failed asan; fi
fi
if want tsan; then
  if sanitizer_build "$DMAKIT_ROOT/build-tsan" thread; then
    run_tier tsan "$DMAKIT_ROOT/build-tsan" --setup tsan --suite threads
  else build_failed tsan; fi
fi
want valgrind && run_tier valgrind "$DMAKIT_BUILD" --setup valgrind

# The real-kernel tier: the same suite in qemu on Debian's linux-image-6.12
# (dma-heaps, udmabuf, vgem, vivid); see docs/vm-tier.md.
# run_vm_tier NAME BUILD_DIR [tests/vm/run args...]
run_vm_tier() {
  local name=$1 build=$2; shift 2
  if [ "${DMAKIT_SKIP_VM:-0}" = 1 ]; then
    log "tier '$name': skipped (DMAKIT_SKIP_VM=1)"
    return 0
  fi
  local rc=0 p=0 f=0 s=0 results="$build/meson-logs/vm" t0=$SECONDS
  log "tier '$name': tests/vm/run --build-dir $build $*"
  "$DMAKIT_ROOT/tests/vm/run" --build-dir "$build" --no-build --results "$results" "$@" || rc=$?
  if [ ! -f "$results/counts" ] && [ ! -f "$results/exit-status" ]; then
    # The guest never reported (a TCG boot flake, seen about once in 15 boots): one retry.
    log "tier '$name': the guest never reported a status; booting once more"
    rc=0
    "$DMAKIT_ROOT/tests/vm/run" --build-dir "$build" --no-build --results "$results" "$@" || rc=$?
  fi
  if [ -f "$results/counts" ]; then read -r p f s <"$results/counts"; else f=1; fi
  print_skip_reasons "$name" "$results/vm-testlog.json"
  log "tier '$name': $p passed, $f failed, $s skipped (tests/vm/run exit status $rc)"
  add_counts "$name" "$p" "$f" "$s" "$rc" $((SECONDS - t0))
}
want vm && run_vm_tier vm "$DMAKIT_BUILD"

# GStreamer 1.26: the Debian 13 root, a build inside it, the host suite there,
# then the device tests in the VM on that root.
GST126_BUILD=${DMAKIT_BUILD_GST126:-$DMAKIT_ROOT/build-gst126}
GST126_ROOTFS=
GST126_RUN=()
IN_GST126=
gst126_ready() {
  [ -n "$GST126_ROOTFS" ] && return 0
  GST126_ROOTFS=$("$DMAKIT_ROOT/scripts/debian13-root.sh" ensure) || return 1
  GST126_RUN=("$DMAKIT_ROOT/scripts/debian13-root.sh" run --root "$GST126_ROOTFS")
  case $GST126_BUILD/ in "$DMAKIT_ROOT"/*) ;; *) mkdir -p "$GST126_BUILD"; GST126_RUN+=(--bind "$GST126_BUILD") ;; esac
  GST126_RUN+=(--)
  log "GStreamer $("${GST126_RUN[@]}" pkg-config --modversion gstreamer-1.0) in $GST126_ROOTFS"
}
gst126_build() {
  local t0=$SECONDS
  gst126_ready || return 1
  if [ ! -f "$GST126_BUILD/build.ninja" ]; then
    log "configuring $GST126_BUILD in the Debian 13 root"
    "${GST126_RUN[@]}" meson setup "$GST126_BUILD" "$DMAKIT_ROOT" --werror -Dtests=enabled       ${DMAKIT_MESON_ARGS:-} || return 1
  fi
  log "building $GST126_BUILD in the Debian 13 root"
  "${GST126_RUN[@]}" ninja -C "$GST126_BUILD" || return 1
  log "GStreamer 1.26 root and build ready in $((SECONDS - t0)) s"
}
GST126_BUILT=0
if [ "${DMAKIT_SKIP_GST126:-0}" = 1 ]; then
  want gst126 && log "tier 'gst126': skipped (DMAKIT_SKIP_GST126=1)"
  want vm-gst126 && log "tier 'vm-gst126': skipped (DMAKIT_SKIP_GST126=1)"
elif want gst126 || want vm-gst126; then
  if gst126_build; then
    GST126_BUILT=1
  else
    want gst126 && build_failed gst126
    want vm-gst126 && build_failed vm-gst126
  fi
fi
if [ "$GST126_BUILT" = 1 ] && want gst126; then
  IN_GST126=1 run_tier gst126 "$GST126_BUILD"
fi
if [ "$GST126_BUILT" = 1 ] && want vm-gst126; then
  # Only what needs a real kernel: the tests that use /dev/dma_heap, /dev/udmabuf,
  # /dev/dri or /dev/video*, and whatever else skipped on the 1.26 host tier
  # (a new device test), except the docs, fuzz and canary suites.
  vm_tests=(allocator-dmaheap allocator-udmabuf allocator-drmdumb allocator-memfd bufferpool-drm
            crop-dmabuf sink tracer v4l2-interop elements-interop reliability-faults)
  if [ -f "$GST126_BUILD/meson-logs/testlog.json" ]; then
    while read -r t; do
      case " ${vm_tests[*]} " in *" $t "*) ;; *) vm_tests+=("$t") ;; esac
    done < <(python3 - "$GST126_BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        suite, _, test = r["name"].partition(" / ")
        if r["result"] == "SKIP" and suite.split(":")[-1] not in ("docs", "fuzz", "canary", "valgrind-canary"):
            print(test)
PY
)
  fi
  vm_args=(--root "$GST126_ROOTFS")
  for t in "${vm_tests[@]}"; do vm_args+=(--test "$t"); done
  run_vm_tier vm-gst126 "$GST126_BUILD" "${vm_args[@]}"
fi

echo
log "per tier:"
for l in "${TIER_LINES[@]}"; do echo "    $l"; done
log "all tiers took $((SECONDS - T_ALL)) s"
if [ ${#FAILED_TIERS[@]} -ne 0 ]; then
  log "FAILED tiers: ${FAILED_TIERS[*]}"
fi
echo "dmakit: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
[ ${#FAILED_TIERS[@]} -eq 0 ]
