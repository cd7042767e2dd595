#!/usr/bin/env bash
# Builds a bootable Raspberry Pi 4 SD card image: one FAT32 partition with
# the Pi firmware (start4.elf, fixup4.dat from Debian's raspi-firmware), the
# board's DTB (bcm2711-rpi-4-b.dtb from Debian's arm64 kernel package), a
# config.txt and the monitor as kernel8.img. Made without root or loop
# mounts: sfdisk writes the partition table, mkfs.vfat --offset the file
# system, mtools the files.
#
#   scripts/mk-sdimage.sh [--host FILE] [-o IMAGE]
#
#   --host FILE  also put FILE (an EL1 ELF, docs/abi.md §1) on the card as the
#                initramfs, so the monitor runs it instead of its built-in
#                default host
#   -o IMAGE     where to write the image (default target/zxvisor/zxvisor-pi4.img)
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/sbin:/usr/sbin

image="$OUT/zxvisor-pi4.img" host=''
while [ $# -gt 0 ]; do
    case $1 in
        --host) host=$(realpath "${2:?--host needs a file}"); shift 2 ;;
        -o) image=$(realpath -m "${2:?-o needs a file name}"); shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ -z "$host" ] || [ -f "$host" ] || die "no such host image: $host"

# The partition: 1 MiB in (the usual alignment), 64 MiB of FAT32 with
# 512-byte clusters (FAT32 needs at least 65525 clusters).
START=2048
SECTORS=131072

ensure_toolchain
build_monitor
ensure_tools sfdisk:fdisk mkfs.vfat:dosfstools mcopy:mtools
debian_arm64_fetch raspi-firmware
pi4_dtb
firmware="$DEBIAN_ARM64_CACHE/root/raspi-firmware/usr/lib/raspi-firmware"

config=$(mktemp)
trap 'rm -f "$config"' EXIT
{
    echo "# zxvisor on the Raspberry Pi 4 (written by scripts/mk-sdimage.sh)"
    echo "arm_64bit=1"
    echo "kernel=kernel8.img"
    echo "device_tree=bcm2711-rpi-4-b.dtb"
    echo "# The console: PL011 UART0 on GPIO 14/15 (header pins 8 and 10), 115200 8N1,"
    echo "# clocked at 48 MHz; the monitor routes the pins to it."
    echo "enable_uart=1"
    echo "init_uart_clock=48000000"
    if [ -n "$host" ]; then
        echo "# The EL1 host the monitor runs instead of its built-in one."
        echo "initramfs host.elf followkernel"
    fi
} >"$config"

say "writing ${image#"$ROOT"/}"
mkdir -p "$(dirname "$image")"
rm -f "$image"
truncate -s $(((START + SECTORS) * 512)) "$image"
echo "label: dos
start=$START, size=$SECTORS, type=c, bootable" | sfdisk -q "$image"
mkfs.vfat -F 32 -s 1 -S 512 -h "$START" -n ZXVISOR --offset "$START" "$image" $((SECTORS / 2)) >/dev/null
fat="$image@@$((START * 512))"
export MTOOLS_SKIP_CHECK=1
mcopy -i "$fat" "$firmware/start4.elf" "$firmware/fixup4.dat" "$PI4_DTB" ::
mcopy -i "$fat" "$MONITOR_IMAGE" ::kernel8.img
mcopy -i "$fat" "$config" ::config.txt
[ -z "$host" ] || mcopy -i "$fat" "$host" ::host.elf
mdir -i "$fat" -b :: | sed 's|^::/|    |'
say "done: flash it with dd or Raspberry Pi Imager (README: Raspberry Pi 4)"
