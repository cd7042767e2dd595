#!/usr/bin/env bash
# Where the instructions of one benchmark operation go: boots the benchmark
# host with only that operation (`zxv.bench=OP`) under the same
# `-icount shift=0,sleep=off` as scripts/bench.sh, with the QEMU plugin of
# scripts/profile/windows.c counting the instructions at each PC inside the
# operation's profile windows (the hint #126 / hint #127 markers of
# guest-images/host/src/bench.rs and its guest code), and prints them per
# window, that is per operation: by image (the monitor, the EL1 host, the
# guest), then by function with its inline frames (scripts/profile/attribute.py).
#
#   scripts/profile.sh [--gic 2|3 | --raspi4b] [--depth D] [--top K] OP
#
# OP is a benchmark name as in bench.sh's log: null_call, guest_hvc,
# mem_store, mem_load, bell_store, irq_inject, timer_wfi, timer_spin,
# state_pair, irq_cross_cpu. The windows of the timer operations open
# before the deadline (at the guest's WFI, or once the spinning guest has
# armed its timer) and close in the guest's handler, so they also hold the
# work done before the deadline that bench.sh's figure leaves out; the
# spinning guest's own loop shows as guest instructions.
# Needs a C compiler for the plugin (gcc is installed when missing) and
# QEMU 9.2 or later (plugin API 4).
. "$(dirname "$0")/lib.sh"

gic=3 machine=virt depth=2 top=40 op=
while [ $# -gt 0 ]; do
    case $1 in
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --raspi4b) machine=raspi4b; shift ;;
        --depth) depth=${2:?--depth needs a number}; shift 2 ;;
        --top) top=${2:?--top needs a number}; shift 2 ;;
        -*) die "unknown option $1" ;;
        *) [ -z "$op" ] || die "one operation at a time"; op=$1; shift ;;
    esac
done
[ -n "$op" ] || die "usage: scripts/profile.sh [--gic 2|3 | --raspi4b] [--depth D] [--top K] OP"

ensure_qemu
ensure_toolchain
ensure_tools cc:gcc
build_monitor
mkdir -p "$OUT/logs" "$OUT/profile"
plugin="$OUT/profile/windows.so"
if [ ! "$plugin" -nt "$ROOT/scripts/profile/windows.c" ]; then
    cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$plugin" "$ROOT/scripts/profile/windows.c"
fi

counts="$OUT/profile/$op.counts"
log="$OUT/logs/profile-$op.log"
if [ "$machine" = raspi4b ]; then
    qemu_raspi4b_cmd
    QEMU+=(-global cortex-a72-arm-cpu.cntfrq=1000000000)
else
    qemu_virt_cmd "$gic" 2
fi
QEMU+=(-icount shift=0,sleep=off -append "zxv.bench=$op" -plugin "$plugin,out=$counts")
rm -f "$counts"
say_qemu
set +e
timeout --foreground -k 10 "${ZXV_QEMU_TIMEOUT:-600}" "${QEMU[@]}" </dev/null >"$log" 2>&1
rc=$?
set -e
line=$(tr -d '\r' <"$log" | grep -E "^bench(-fail)? $op[|:]" || true)
[ -n "$line" ] || { tail -n 30 "$log"; die "no result for $op (QEMU exit $rc); log: $log"; }
case $line in bench-fail*) die "${line#bench-fail }" ;; esac
[ -s "$counts" ] || die "the plugin wrote no counts (QEMU exit $rc); log: $log"
# "monitor 30 MiB at 0x7e200000..0x80000000": where the monitor runs.
base=$(tr -d '\r' <"$log" | sed -n 's/.* monitor [0-9]* MiB at \(0x[0-9a-f]*\)\.\..*/\1/p' | head -1)
[ -n "$base" ] || die "no monitor load address in the boot banner; log: $log"
echo "$op: bench.sh's figure $(cut -d'|' -f2 <<<"$line")"
python3 "$ROOT/scripts/profile/attribute.py" "$counts" --depth "$depth" --top "$top" \
    --image "monitor=$OUT/zxvisor.elf@$base" --image "host=$OUT/host.elf@0"
