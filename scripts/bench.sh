#!/usr/bin/env bash
# Measures the hot paths in instructions per operation: boots the default
# host in benchmark mode (`zxv.bench` on its command line) under
# `-icount shift=0,sleep=off` with a 1 GHz generic counter, so the counter
# advances exactly one tick per instruction, and prints a Markdown table.
# On QEMU virt (`-cpu max`, whose counter runs at 1 GHz) by default; with
# --raspi4b on QEMU raspi4b, whose Cortex-A72 counter (62.5 MHz) is set to
# 1 GHz for the run.
#
#   scripts/bench.sh [--gic 2|3 | --raspi4b]
. "$(dirname "$0")/lib.sh"

gic=3 machine=virt
case ${1:-} in
    --gic) gic=${2:?--gic needs 2 or 3} ;;
    --raspi4b) machine=raspi4b ;;
    "") ;;
    *) die "usage: scripts/bench.sh [--gic 2|3 | --raspi4b]" ;;
esac

ensure_qemu
ensure_toolchain
build_monitor
mkdir -p "$OUT/logs"
if [ "$machine" = raspi4b ]; then
    log="$OUT/logs/bench-raspi4b.log"
    qemu_raspi4b_cmd
    QEMU+=(-global cortex-a72-arm-cpu.cntfrq=1000000000)
else
    log="$OUT/logs/bench-gicv$gic.log"
    qemu_virt_cmd "$gic" 2
fi
QEMU+=(-icount shift=0,sleep=off -append zxv.bench)
say "${QEMU[*]}"
set +e
timeout --foreground -k 10 "${ZXV_QEMU_TIMEOUT:-600}" "${QEMU[@]}" </dev/null >"$log" 2>&1
rc=$?
set -e
grep -q '^bench ' "$log" || { tail -n 30 "$log"; die "no benchmark results (QEMU exit $rc); log: $log"; }
echo "| operation | instructions | target |"
echo "|---|---:|---:|"
# Lines: bench <name>|<instructions per op>|<target>|<description>
tr -d '\r' <"$log" | sed -n 's/^bench \([^|]*\)|\([^|]*\)|\([^|]*\)|\(.*\)$/| \4 | \2 | \3 |/p'
if grep -q '^bench-fail ' "$log"; then
    grep '^bench-fail ' "$log" >&2
    exit 1
fi
