#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install what is missing, build, and run every test tier. Exits non-zero when
# any tier fails. Tiers run: host (meson test). Set DMAKIT_SKIP_VM=1 to skip
# the real-kernel tier locally (CI runs it).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dmakit_install_deps
dmakit_build

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
FAILED_TIERS=()

# Count the results of the last `meson test` run in build dir $1.
count_results() {
  python3 - "$1/meson-logs/testlog.json" <<'PY'
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
  local rc=0
  meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)" "$@" || rc=$?
  read -r p f s < <(count_results "$dir")
  log "tier '$name': $p passed, $f failed, $s skipped"
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f)); TOTAL_SKIP=$((TOTAL_SKIP + s))
  if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then FAILED_TIERS+=("$name"); fi
}

run_tier host "$DMAKIT_BUILD"

echo
if [ ${#FAILED_TIERS[@]} -ne 0 ]; then
  log "FAILED tiers: ${FAILED_TIERS[*]}"
fi
echo "dmakit: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
[ ${#FAILED_TIERS[@]} -eq 0 ]
