#!/usr/bin/env bash
# Builds zxvisor and boots it on QEMU virt, console on this terminal.
#
#   scripts/qemu-run.sh [--host FILE] [--gic 2|3] [--smp N] [--gdb] [-- QEMU ARGS...]
#
#   --host FILE  run FILE (an EL1 ELF, docs/abi.md §1) as the host instead of the
#                built-in default host (passed to QEMU as -initrd)
#   --gic 2|3    GIC version of the virt machine (default 3)
#   --smp N      number of CPUs (default 4)
#   --gdb        wait for gdb-multiarch on localhost:1234 (-s -S)
#   anything else, or after --, goes to QEMU unchanged (e.g. -append "zxv.test=reset")
# Leave QEMU with Ctrl-A X.
. "$(dirname "$0")/lib.sh"

host='' gic=3 smp=4 extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --host) host=$(realpath "${2:?--host needs a file}"); shift 2 ;;
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --smp) smp=${2:?--smp needs a number}; shift 2 ;;
        --gdb) extra+=(-s -S); say "waiting for gdb on localhost:1234 (gdb-multiarch $OUT/zxvisor.elf -ex 'target remote :1234')"; shift ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done
case $gic in 2|3) ;; *) die "--gic takes 2 or 3" ;; esac
[ -z "$host" ] || [ -f "$host" ] || die "no such host image: $host"

ensure_qemu
ensure_toolchain
build_monitor
[ -z "$host" ] || extra+=(-initrd "$host")
qemu_virt_cmd "$gic" "$smp"
QEMU+=("${extra[@]}")
say "${QEMU[*]}"
exec "${QEMU[@]}"
