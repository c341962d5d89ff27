#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what is missing, build, and run every test tier. Exits non-zero when
# any tier fails. Tiers (in order):
#   host      meson test on the normal build
#   asan      AddressSanitizer + UBSan build (leak detection on), whole suite
#   tsan      ThreadSanitizer build, the threading tests (suite 'threads')
#   valgrind  memcheck over the whole host suite, "definitely lost" fails
#   vm        the suite again on a real kernel with dma-heaps/udmabuf/vgem/vivid
# DMAKIT_TIERS="host asan" runs a subset locally; DMAKIT_SKIP_VM=1 skips the
# VM tier locally. CI runs them all.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dmakit_install_deps
dmakit_build

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
FAILED_TIERS=()

# Count the results of the last `meson test` run in build dir $1 (setup $2).
count_results() {
  local log="$1/meson-logs/testlog${2:+-$2}.json"
  [ -f "$log" ] || { echo "0 1 0"; return; }
  python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result", "")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
}

# run_tier NAME BUILD_DIR [meson test args...]
run_tier() {
  local name=$1 dir=$2; shift 2
  log "tier '$name': meson test $*"
  local rc=0 setup="" a prev=""
  for a in "$@"; do [ "$prev" = --setup ] && setup=$a; prev=$a; done
  rm -f "$dir/meson-logs/testlog${setup:+-$setup}.json"
  meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)" "$@" || rc=$?
  read -r p f s < <(count_results "$dir" "$setup")
  log "tier '$name': $p passed, $f failed, $s skipped"
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f)); TOTAL_SKIP=$((TOTAL_SKIP + s))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then FAILED_TIERS+=("$name"); fi
}

TIERS=${DMAKIT_TIERS:-host asan tsan valgrind vm}
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
  TOTAL_FAIL=$((TOTAL_FAIL + 1)); FAILED_TIERS+=("$1")
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
run_vm_tier() {
  if [ "${DMAKIT_SKIP_VM:-0}" = 1 ]; then
    log "tier 'vm': skipped (DMAKIT_SKIP_VM=1)"
    return 0
  fi
  local rc=0 p=0 f=0 s=0 results="$DMAKIT_BUILD/meson-logs/vm"
  log "tier 'vm': tests/vm/run --build-dir $DMAKIT_BUILD"
  "$DMAKIT_ROOT/tests/vm/run" --build-dir "$DMAKIT_BUILD" --no-build --results "$results" || rc=$?
  if [ ! -f "$results/counts" ] && [ ! -f "$results/exit-status" ]; then
    # The guest never reported (a TCG boot flake, seen about once in 15 boots): one retry.
    log "tier 'vm': the guest never reported a status; booting once more"
    rc=0
    "$DMAKIT_ROOT/tests/vm/run" --build-dir "$DMAKIT_BUILD" --no-build --results "$results" || rc=$?
  fi
  if [ -f "$results/counts" ]; then read -r p f s <"$results/counts"; else f=1; fi
  log "tier 'vm': $p passed, $f failed, $s skipped (tests/vm/run exit status $rc)"
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f)); TOTAL_SKIP=$((TOTAL_SKIP + s))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then FAILED_TIERS+=(vm); fi
}
want vm && run_vm_tier

echo
if [ ${#FAILED_TIERS[@]} -ne 0 ]; then
  log "FAILED tiers: ${FAILED_TIERS[*]}"
fi
echo "dmakit: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
[ ${#FAILED_TIERS[@]} -eq 0 ]
