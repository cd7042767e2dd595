#!/usr/bin/env bash
# Boots Debian's arm64 Linux as a guest of zxvisor's VMM on QEMU virt, to a
# busybox shell on this terminal. `exit` in the shell powers the guest off
# (and the machine with it); Ctrl-A X leaves QEMU.
#
#   scripts/run-linux.sh [--gic 2|3] [--smp N] [--cpus N] [--mem SIZE] [--psci hvc|smc] [-- GUEST COMMAND LINE]
#
#   --gic 2|3     GIC version of the virt machine (default 3)
#   --smp N       physical CPUs (default 4)
#   --cpus N      the guest's vCPUs, at most --smp (default 2)
#   --mem SIZE    the guest's RAM, e.g. 256M (default 256M)
#   --psci M      the guest calls PSCI with hvc (default) or smc
#   after --      the guest's command line (default: console=ttyAMA0)
# Debian's kernel and busybox-static are downloaded once, into
# ~/.cache/zxvisor/debian-arm64 (ZXV_DEBIAN_CACHE to change it).
. "$(dirname "$0")/lib.sh"

gic=3 smp=4 cpus=2 mem=256M psci=hvc cmdline="console=ttyAMA0"
while [ $# -gt 0 ]; do
    case $1 in
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --smp) smp=${2:?--smp needs a number}; shift 2 ;;
        --cpus) cpus=${2:?--cpus needs a number}; shift 2 ;;
        --mem) mem=${2:?--mem needs a size}; shift 2 ;;
        --psci) psci=${2:?--psci needs hvc or smc}; shift 2 ;;
        --) shift; cmdline="$*"; break ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
case $gic in 2|3) ;; *) die "--gic takes 2 or 3" ;; esac

ensure_qemu
ensure_toolchain
build_monitor
build_vmm
linux_guest
qemu_linux_cmd "$gic" "$smp" "vmm.cpus=$cpus vmm.mem=$mem vmm.psci=$psci" "$cmdline"
say "${QEMU[*]}"
exec "${QEMU[@]}"
