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
# With --virtio, measures the virtio disk and network: the same kernel and
# busybox initramfs (rdinit=/vbench, guest-images/vmm/initramfs/vbench)
# write and then read a 64 MiB scratch disk in 16384 requests of 4 KiB with
# direct I/O (dd oflag=direct / iflag=direct on /dev/vda), and ping QEMU's
# user-network gateway (10.0.2.2, which QEMU answers itself: nothing leaves
# the machine) 4000 times with 1472 data bytes (1514-byte frames), each
# ping sent when the reply to the one before came (ping -A). Under zxvisor
# (the VMM's virtio-blk and virtio-net, served through its drivers of
# QEMU's virtio-blk-device and virtio-net-device) and on bare QEMU at EL1
# (QEMU's own virtio-blk-device and virtio-net-device on virtio-mmio, QEMU
# virt's DTB), both on a fresh sparse image file and QEMU's user network,
# virt GICv3, -smp 2, -cpu max, the same -icount. The counter is no measure
# here: while a guest waits for its disk every CPU may be idle, and
# sleep=off then makes the virtual clock jump to the next timer deadline
# (on bare QEMU the write's counter read 30 and 135 times its instructions
# in two runs). So the instructions are counted by a QEMU plugin
# (scripts/profile/marks.c), executed by both CPUs at every exception level
# (the monitor, the VMM, the guest's kernel and programs, whatever the other
# CPU runs meanwhile), between the markers zxv-ticks executes before and
# after each dd and the pings, less one zxv-ticks run; per request, that is
# per 4 KiB, and per network frame, sent or received (eth0's statistics:
# the echo requests and replies, and whatever else went by meanwhile).
# Exits per MiB are the monitor's count of all exits (the VMM's closing
# summary) of a zxvisor run with the disk's I/O only, and of one with the
# pings only, less those of a run with neither (zxv.vbench=0 and
# zxv.vbench.pings=0: the same programs, dd of 0 requests, no pings), over
# the 128 MiB moved on the disk and over the bytes of the network's frames.
# Every run has both devices. Prints them in a table with bare QEMU's
# figures and zxvisor's ratio, and the exits per MiB by kind; ends with an
# error, and no table, if a reading is missing, the network does not come
# up or a reply is lost. Needs a C compiler for the plugin (gcc is
# installed when missing); takes about 2 minutes (four runs; up to 5 on a
# loaded machine).
#
#   scripts/bench.sh [--gic 2|3 | --raspi4b | --linux [--gic 2|3] | --virtio]
. "$(dirname "$0")/lib.sh"

gic=3 machine=virt
while [ $# -gt 0 ]; do
    case $1 in
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --raspi4b) machine=raspi4b; shift ;;
        --linux) machine=linux; shift ;;
        --virtio) machine=virtio; shift ;;
        *) die "usage: scripts/bench.sh [--gic 2|3 | --raspi4b | --linux [--gic 2|3] | --virtio]" ;;
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
if [ "$machine" = virtio ]; then
    [ "$gic" = 3 ] || die "--virtio runs on GICv3 only (bare QEMU boots with QEMU virt's DTB)"
    ensure_tools cc:gcc
    build_vmm
    linux_guest
    plugin="$OUT/profile/marks.so"
    mkdir -p "$OUT/profile"
    if [ ! "$plugin" -nt "$ROOT/scripts/profile/marks.c" ]; then
        cc -O2 -Wall -Wextra -Werror -shared -fPIC -o "$plugin" "$ROOT/scripts/profile/marks.c"
    fi
    scratch="$OUT/vbench-scratch.img"
    cmdline="console=ttyAMA0 quiet nokaslr panic=-1 rdinit=/vbench"
    # fresh_scratch: a new, sparse, 64 MiB disk for each run.
    fresh_scratch() { rm -f "$scratch"; truncate -s 64M "$scratch"; }
    # zxvisor_run NAME GUEST_ARGS [PLUGIN_ARGS...]: the guest under zxvisor,
    # with the disk and the network; sets log.
    zxvisor_run() {
        local name=$1 args=$2
        shift 2
        log="$OUT/logs/bench-virtio-zxvisor-$name.log"
        fresh_scratch
        LINUX_DISK=$scratch LINUX_DISK_KIND=file LINUX_NET=1 LINUX_HOSTFWD=''
        qemu_linux_cmd 3 2 "vmm.cpus=2 vmm.mem=256M" "$cmdline$args"
        QEMU+=(-icount shift=0,sleep=off "$@")
        run_logged "$log"
        if ! tr -d '\r' <"$log" | grep -q '^linux| zxv-vbench: done$' || tr -d '\r' <"$log" | grep -q 'zxv-vbench: fail'; then
            tail -n 30 "$log"
            die "the zxvisor run ($name) did not get through the benchmark (QEMU exit $rc); log: $log"
        fi
    }
    zx_disk_marks="$OUT/profile/vbench-zxvisor-disk.marks" zx_net_marks="$OUT/profile/vbench-zxvisor-net.marks"
    bare_marks="$OUT/profile/vbench-bare.marks"
    rm -f "$zx_disk_marks" "$zx_net_marks" "$bare_marks"
    zxvisor_run disk " zxv.vbench.pings=0" -plugin "$plugin,out=$zx_disk_marks"
    disk_log=$log
    zxvisor_run net " zxv.vbench=0" -plugin "$plugin,out=$zx_net_marks"
    net_log=$log
    zxvisor_run no-io " zxv.vbench=0 zxv.vbench.pings=0"
    base_log=$log
    bare_log="$OUT/logs/bench-virtio-bare.log"
    fresh_scratch
    QEMU=(qemu-system-aarch64 -M virt,gic-version=3 -cpu max -smp 2 -m 256M -icount shift=0,sleep=off
        -display none -serial stdio -monitor none -no-reboot
        -kernel "$LINUX_KERNEL" -initrd "$LINUX_INITRD" -append "$cmdline"
        -drive "file=$(qemu_escape "$scratch"),format=raw,if=none,id=disk0" -device virtio-blk-device,drive=disk0
        -netdev user,id=net0 -device virtio-net-device,netdev=net0
        -global virtio-mmio.force-legacy=false -plugin "$plugin,out=$bare_marks")
    run_logged "$bare_log"
    # figure WHAT COMMAND...: COMMAND's output, or the end with what is missing.
    figure() {
        local what=$1 value
        shift
        value=$("$@") || die "no figure for $what (logs: $disk_log, $net_log, $base_log, $bare_log)"
        echo "$value"
    }
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
    zx_write=$(figure "zxvisor's writes" vbench_per_op "$disk_log" "$zx_disk_marks" write)
    zx_read=$(figure "zxvisor's reads" vbench_per_op "$disk_log" "$zx_disk_marks" read)
    zx_ping=$(figure "zxvisor's network frames" vbench_per_op "$net_log" "$zx_net_marks" ping)
    bare_write=$(figure "bare QEMU's writes" vbench_per_op "$bare_log" "$bare_marks" write)
    bare_read=$(figure "bare QEMU's reads" vbench_per_op "$bare_log" "$bare_marks" read)
    bare_ping=$(figure "bare QEMU's network frames" vbench_per_op "$bare_log" "$bare_marks" ping)
    disk_exits=$(figure "the exits of the disk run" vmm_exits "$disk_log")
    net_exits=$(figure "the exits of the network run" vmm_exits "$net_log")
    base_exits=$(figure "the exits of the run without I/O" vmm_exits "$base_log")
    # The MiB written and read: twice the requests of 4 KiB; the MiB of the
    # frames eth0 sent and received during the pings.
    requests=$(figure "the disk's requests" vbench_count "$disk_log" requests)
    bytes=$(figure "the network's bytes" vbench_count "$net_log" bytes)
    frames=$(figure "the network's frames" vbench_count "$net_log" frames)
    disk_mib=$(awk -v n="$requests" 'BEGIN { print n * 2 * 4096 / 1048576 }')
    net_mib=$(awk -v n="$bytes" 'BEGIN { print n / 1048576 }')
    # per_mib EXITS MIB: "KIND N" lines of a run with I/O (EXITS) less the
    # run without, per MiB moved.
    per_mib() {
        awk -v mib="$2" 'NR == FNR { base[$1] = $2; next } { printf "%s %.1f\n", $1, ($2 - base[$1]) / mib }' \
            <(echo "$base_exits") <(echo "$1")
    }
    disk_per_mib=$(per_mib "$disk_exits" "$disk_mib")
    net_per_mib=$(per_mib "$net_exits" "$net_mib")
    disk_exits_mib=$(awk '$1 == "total" && $2 > 0 { print $2 }' <<<"$disk_per_mib")
    net_exits_mib=$(awk '$1 == "total" && $2 > 0 { print $2 }' <<<"$net_per_mib")
    [ -n "$disk_exits_mib" ] || die "no more exits with the disk's I/O than without ($disk_log, $base_log)"
    [ -n "$net_exits_mib" ] || die "no more exits with the pings than without ($net_log, $base_log)"
    echo "| virtio, GICv3, 2 CPUs: the disk (64 MiB by dd in 4 KiB direct I/O requests), the network ($frames frames of pings) | zxvisor | bare QEMU | ratio |"
    echo "|---|---:|---:|---:|"
    echo "| instructions per 4 KiB written | $zx_write | $bare_write | $(ratio "$zx_write" "$bare_write") |"
    echo "| instructions per 4 KiB read | $zx_read | $bare_read | $(ratio "$zx_read" "$bare_read") |"
    echo "| instructions per network packet (a 1514-byte frame: an echo request or reply) | $zx_ping | $bare_ping | $(ratio "$zx_ping" "$bare_ping") |"
    echo "| exits per MiB moved on the disk (written and read) | $disk_exits_mib | none: no hypervisor | |"
    echo "| exits per MiB of network frames (sent and received) | $net_exits_mib | none: no hypervisor | |"
    echo
    echo "| exits per MiB, by kind (monitor) | disk | network |"
    echo "|---|---:|---:|"
    awk 'NR == FNR { disk[$1] = $2; kinds[++n] = $1; next }
        { net[$1] = $2; if (!($1 in disk)) kinds[++n] = $1 }
        END {
            for (i = 1; i <= n; i++)
                if (kinds[i] != "total") printf "| %s | %s | %s |\n", kinds[i], (kinds[i] in disk) ? disk[kinds[i]] : 0, (kinds[i] in net) ? net[kinds[i]] : 0
        }' <(echo "$disk_per_mib") <(echo "$net_per_mib")
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
