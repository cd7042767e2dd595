#!/usr/bin/env bash
# Builds zxvisor and boots it on QEMU virt, console on this terminal; or
# boots an SD card image's files on QEMU raspi4b.
#
#   scripts/qemu-run.sh [--host FILE] [--gic 2|3] [--smp N] [--gdb] [-- QEMU ARGS...]
#   scripts/qemu-run.sh --sdimage IMAGE [-- QEMU ARGS...]
#
#   --host FILE  run FILE (an EL1 ELF, docs/abi.md §1) as the host instead of the
#                built-in default host (passed to QEMU as -initrd)
#   --gic 2|3    GIC version of the virt machine (default 3)
#   --smp N      number of CPUs (default 4)
#   --gdb        start stopped, waiting for gdb on localhost:1234 (-s -S);
#                then `gdb-multiarch -x target/zxvisor/zxvisor.gdb` loads the
#                monitor's symbols where it runs and the host's
#   --sdimage IMAGE  boot the files of IMAGE (from scripts/mk-sdimage.sh) on
#                QEMU raspi4b as the Pi firmware would: its kernel8.img, DTB,
#                initramfs (host.elf) and cmdline.txt, copied out to
#                target/zxvisor/sdimage-files (nothing is built)
#   anything else, or after --, goes to QEMU unchanged (e.g. -append "zxv.test=reset")
# Console keys (QEMU's -serial mon:stdio): Ctrl-A X quits, Ctrl-A H lists
# the others; Ctrl-C goes to the machine.
. "$(dirname "$0")/lib.sh"

host='' gic=3 smp=4 gdb='' sdimage='' extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --host) host=$(realpath "${2:?--host needs a file}"); shift 2 ;;
        --gic) gic=${2:?--gic needs 2 or 3}; shift 2 ;;
        --smp) smp=${2:?--smp needs a number}; shift 2 ;;
        --gdb) gdb=1; shift ;;
        --sdimage) sdimage=$(realpath "${2:?--sdimage needs an image}"); shift 2 ;;
        --) shift; extra+=("$@"); break ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done
case $gic in 2|3) ;; *) die "--gic takes 2 or 3" ;; esac
[ -z "$host" ] || [ -f "$host" ] || die "no such host image: $host"

if [ -n "$sdimage" ]; then
    [ -f "$sdimage" ] || die "no such SD card image: $sdimage"
    [ -z "$host$gdb" ] || die "--sdimage boots the image's own host; --host and --gdb are for virt"
    ensure_qemu
    interactive_console
    qemu_sdimage_cmd "$sdimage" "$OUT/sdimage-files"
    QEMU+=("${extra[@]}")
    say_qemu
    exec "${QEMU[@]}"
fi

ensure_qemu
ensure_toolchain
build_monitor
[ -z "$host" ] || extra+=(-initrd "$host")
interactive_console
qemu_virt_cmd "$gic" "$smp"
QEMU+=("${extra[@]}")
if [ -n "$gdb" ]; then
    ensure_tools gdb-multiarch:gdb-multiarch
    gdb_script 1234 "${host:-$OUT/host.elf}"
    QEMU+=(-s -S)
    say "waiting for gdb on localhost:1234; in another terminal: gdb-multiarch -x ${OUT#"$ROOT"/}/zxvisor.gdb"
fi
say_qemu
exec "${QEMU[@]}"
