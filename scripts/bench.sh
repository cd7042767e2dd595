#!/usr/bin/env bash
# Measures the hot paths in instructions per operation: boots the default
# host in benchmark mode (`zxv.bench` on its command line) on QEMU virt with
# `-cpu max -icount shift=0,sleep=off`, where the generic counter advances exactly one
# tick per instruction, and prints a Markdown table.
#
#   scripts/bench.sh [--gic 2|3]
. "$(dirname "$0")/lib.sh"

gic=3
case ${1:-} in
    --gic) gic=${2:?--gic needs 2 or 3} ;;
    "") ;;
    *) die "usage: scripts/bench.sh [--gic 2|3]" ;;
esac

ensure_qemu
ensure_toolchain
build_monitor
mkdir -p "$OUT/logs"
log="$OUT/logs/bench-gicv$gic.log"
qemu_virt_cmd "$gic" 2
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
