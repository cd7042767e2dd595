#!/usr/bin/env bash
# Measures the hot paths in instructions per operation: boots the default
# host in benchmark mode (`zxv.bench` on its command line) under
# `-icount shift=0,sleep=off` with a 1 GHz generic counter, so the counter
# advances exactly one tick per instruction, and prints a Markdown table.
# On QEMU virt (`-cpu max`, whose counter runs at 1 GHz) by default; with
# --raspi4b on QEMU raspi4b, whose Cortex-A72 counter (62.5 MHz) is set to
# 1 GHz for the run.
#
# With --linux, measures a Linux boot instead: instructions from reset to
# the first line of the guest's init (guest-images/ticks prints the counter)
# for Debian's kernel and initramfs booted by the VMM under zxvisor, and the
# same kernel, initramfs and command line booted by QEMU at EL1, on the same
# machine (virt, -cpu max, -smp 2, the same -icount; QEMU's RAM for the
# direct boot is the guest's, 256 MiB), once with QEMU's DTB and (GICv3)
# once with the VMM's guest DTB, so that Linux finds the same devices.
# Prints them, zxvisor's ratio to each (it must be at most 1.10) and the
# exits of the zxvisor boot by kind.
#
#   scripts/bench.sh [--gic 2|3 | --raspi4b | --linux [--gic 2|3]]
. "$(dirname "$0")/lib.sh"

gic=3 machine=virt
while [ $# -gt 0 ]; do
    case $1 in
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --raspi4b) machine=raspi4b; shift ;;
        --linux) machine=linux; shift ;;
        *) die "usage: scripts/bench.sh [--gic 2|3 | --raspi4b | --linux [--gic 2|3]]" ;;
    esac
done

ensure_qemu
ensure_toolchain
build_monitor
mkdir -p "$OUT/logs"

# run_logged LOG: runs QEMU with the timeout, output to LOG; sets rc.
run_logged() {
    say_qemu
    set +e
    timeout --foreground -k 10 "${ZXV_QEMU_TIMEOUT:-600}" "${QEMU[@]}" </dev/null >"$1" 2>&1
    rc=$?
    set -e
}

# first_line_ticks LOG: the counter the guest's init printed first.
first_line_ticks() {
    tr -d '\r' <"$1" | sed -n 's/^\(linux| \)\{0,1\}ticks \([0-9]*\)$/\2/p' | head -1
}

if [ "$machine" = linux ]; then
    build_vmm
    linux_guest
    cmdline="console=ttyAMA0 quiet nokaslr panic=-1 rdinit=/bench"
    zx_log="$OUT/logs/bench-linux-zxvisor-gicv$gic.log"
    qemu_linux_cmd "$gic" 2 "vmm.cpus=2 vmm.mem=256M" "$cmdline"
    QEMU+=(-icount shift=0,sleep=off)
    run_logged "$zx_log"
    zx=$(first_line_ticks "$zx_log")
    [ -n "$zx" ] || { tail -n 30 "$zx_log"; die "no 'ticks' line under zxvisor (QEMU exit $rc); log: $zx_log"; }
    # direct_boot NAME ARGS...: QEMU boots the kernel at EL1 with ARGS added;
    # sets ticks.
    direct_boot() {
        local log="$OUT/logs/bench-linux-direct-$1-gicv$gic.log"
        shift
        QEMU=(qemu-system-aarch64 -M "virt,gic-version=$gic" -cpu max -smp 2 -m 256M -icount shift=0,sleep=off
            -display none -nic none -serial stdio -monitor none -no-reboot
            -kernel "$LINUX_KERNEL" -initrd "$LINUX_INITRD" -append "$cmdline" "$@")
        run_logged "$log"
        ticks=$(first_line_ticks "$log")
        [ -n "$ticks" ] || { tail -n 30 "$log"; die "no 'ticks' line from the direct boot (QEMU exit $rc); log: $log"; }
    }
    ratio() { awk -v a="$zx" -v b="$1" 'BEGIN { printf "%.3f", a / b }'; }
    direct_boot virt-dtb
    direct=$ticks
    echo "| Linux boot, reset to the init's first line (GICv$gic, 2 CPUs) | instructions | zxvisor's ratio to it |"
    echo "|---|---:|---:|"
    echo "| QEMU boots the kernel at EL1 (QEMU virt's DTB) | $direct | $(ratio "$direct") |"
    if [ "$gic" = 3 ]; then
        # The guest's DTB: the same devices as under zxvisor (GICv2 guests'
        # distributor sits where QEMU virt has none, so only on GICv3).
        cargo run -q -p zxv-vmm --example guest_dtb -- "$OUT/linux/guest.dtb" "$gic" 2 256
        direct_boot guest-dtb -dtb "$OUT/linux/guest.dtb"
        echo "| QEMU boots the kernel at EL1 (the VMM's guest DTB) | $ticks | $(ratio "$ticks") |"
        direct=$((ticks < direct ? ticks : direct))
    fi
    echo "| zxvisor: monitor, VMM, Linux with 2 vCPUs | $zx | |"
    echo
    echo "| exits during that boot (seen by) | count |"
    echo "|---|---:|"
    # "vmm: guest linux: exits to the VMM: kind N, kind N, ..., total N", and
    # the same for all exits as the monitor counts them.
    tr -d '\r' <"$zx_log" | sed -n -e 's/^vmm: guest linux: exits to the VMM: /VMM /p' \
        -e 's/^vmm: guest linux: exits counted by the monitor: /monitor /p' | while read -r who counts; do
            tr ',' '\n' <<<"$counts" | while read -r kind n; do echo "| $kind ($who) | $n |"; done
        done
    worst=$(ratio "$direct")
    awk -v r="$worst" 'BEGIN { exit !(r <= 1.10) }' || die "the zxvisor boot takes $worst times a direct one, more than 1.10"
    exit 0
fi
if [ "$machine" = raspi4b ]; then
    log="$OUT/logs/bench-raspi4b.log"
    qemu_raspi4b_cmd
    QEMU+=(-global cortex-a72-arm-cpu.cntfrq=1000000000)
else
    log="$OUT/logs/bench-gicv$gic.log"
    qemu_virt_cmd "$gic" 2
fi
QEMU+=(-icount shift=0,sleep=off -append zxv.bench)
run_logged "$log"
grep -q '^bench ' "$log" || { tail -n 30 "$log"; die "no benchmark results (QEMU exit $rc); log: $log"; }
echo "| operation | instructions | target |"
echo "|---|---:|---:|"
# Lines: bench <name>|<instructions per op>|<target>|<description>
tr -d '\r' <"$log" | sed -n 's/^bench \([^|]*\)|\([^|]*\)|\([^|]*\)|\(.*\)$/| \4 | \2 | \3 |/p'
if grep -q '^bench-fail ' "$log"; then
    grep '^bench-fail ' "$log" >&2
    exit 1
fi
