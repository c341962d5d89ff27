#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs inside the VM, chrooted into the host's root (see tests/vm/init), from
# the results share where tests/vm/run copied it with:
#   guest.env  exported environment (shell syntax)
#   command    the command, NUL-separated arguments
#   dmakit-vm-probe (optional)  the device probe, run first
# Writes command.log, probe.log, exit-status and timings next to itself.
set -u
R=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

uptime_s() { local up _; read -r up _ </proc/uptime; echo "$up"; }
log() { echo "[dmakit-vm guest $(uptime_s)s] $*"; }

# shellcheck source=/dev/null
source "$R/guest.env"
mkdir -p "$HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"

mapfile -d '' -t CMD <"$R/command"
if [ ${#CMD[@]} -eq 0 ]; then
  echo "error no command given" >"$R/status"
  exit 1
fi

START_UPTIME=$(uptime_s)
echo "guest_boot_to_command_s $START_UPTIME" >"$R/timings"

if [ -x "$R/dmakit-vm-probe" ]; then
  log "device probe"
  "$R/dmakit-vm-probe" 2>&1 | tee "$R/probe.log"
  probe_rc=${PIPESTATUS[0]}
  echo "$probe_rc" >"$R/probe-status"
  if [ "$probe_rc" -ne 0 ]; then
    echo "error the device probe failed (see probe.log): the kernel's DMA-BUF devices do not work" >"$R/status"
    exit 1
  fi
fi

cd "$DMAKIT_VM_CWD" 2>/dev/null || cd /tmp || exit 1
log "running in $(pwd): ${CMD[*]}"
cmd_start=$(uptime_s)
rc=0
if [ "${DMAKIT_VM_INTERACTIVE:-0}" = 1 ]; then
  # The serial console becomes COMMAND's controlling terminal.
  stty -F /dev/ttyS0 sane 2>/dev/null
  setsid -w -c "${CMD[@]}" </dev/ttyS0 >/dev/ttyS0 2>&1
  rc=$?
else
  "${CMD[@]}" 2>&1 | tee "$R/command.log"
  rc=${PIPESTATUS[0]}
fi
cmd_end=$(uptime_s)
echo "guest_command_s $(awk -v a="$cmd_start" -v b="$cmd_end" 'BEGIN { printf "%.1f", b - a }')" >>"$R/timings"
log "command exited with status $rc"
sync
echo "$rc" >"$R/exit-status"
exit 0
