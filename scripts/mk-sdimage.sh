#!/usr/bin/env bash
# Builds a bootable Raspberry Pi 4 SD card image: one FAT32 partition with
# the Pi firmware (start4.elf, fixup4.dat from Debian's raspi-firmware), the
# board's DTB (bcm2711-rpi-4-b.dtb from Debian's arm64 kernel package), a
# config.txt and the monitor as kernel8.img. Made without root or loop
# mounts: sfdisk writes the partition table, mkfs.vfat --offset the file
# system, mtools the files.
#
#   scripts/mk-sdimage.sh [--host FILE | --linux [--disk FILE]] [-o IMAGE]
#
#   --host FILE  also put FILE (an EL1 ELF, docs/abi.md §1) on the card as the
#                initramfs, so the monitor runs it instead of its built-in
#                default host
#   --linux      the host is the VMM running Debian's arm64 kernel with the
#                busybox initramfs of scripts/run-linux.sh: host.elf holds the
#                VMM and, as more segments at fixed addresses, the kernel and
#                the initramfs (scripts/mkelf.py); cmdline.txt has the VMM's
#                options and the guest's command line, for you to edit
#   --disk FILE  with --linux: FILE, a raw disk image (e.g. from
#                scripts/mkrootfs.sh, at most 512 MiB), in host.elf too: the
#                guest's virtio disk, served from RAM (volatile: the guest's
#                writes are lost at power-off); the guest boots root=/dev/vda
#   -o IMAGE     where to write the image (default target/zxvisor/zxvisor-pi4.img)
. "$(dirname "$0")/lib.sh"
PATH=$PATH:/sbin:/usr/sbin

# The Linux host (--linux): the VMM's options on a Pi 4 (all four CPUs, and
# guest RAM a 2 GiB board has room for next to the blobs), and the largest
# disk image (with the kernel and initramfs it is host.elf, which the
# firmware loads below the VideoCore's memory, under 1 GiB).
PI_VMM_OPTIONS="vmm.cpus=4 vmm.mem=512M vmm.console=raw"
PI_MAX_DISK_MIB=512

# pi_linux_host OUT CMDLINE [DISK]: writes OUT, the VMM's ELF with
# LINUX_KERNEL, LINUX_INITRD and DISK as more segments, 2 MiB aligned one
# after the other from LINUX_KERNEL_ADDR (where the runs on virt put the
# kernel; RAM on a Pi 4 with 2 GiB or more), and CMDLINE, the one line of
# cmdline.txt: the vmm.* options that find them, PI_VMM_OPTIONS, and after
# `--` the guest's command line.
pi_linux_host() {
    local out=$1 cmdline=$2 disk=${3:-} addr=$LINUX_KERNEL_ADDR blobs=() options='' spec size at
    for spec in "kernel:$LINUX_KERNEL" "initrd:$LINUX_INITRD" ${disk:+"disk:$disk"}; do
        size=$(stat -c %s "${spec#*:}")
        at=$(printf 0x%x "$addr")
        blobs+=(--blob "$at" "${spec#*:}")
        options+="vmm.${spec%%:*}=$at,$size "
        addr=$(((addr + size + 0x1fffff) & ~0x1fffff))
    done
    python3 "$ROOT/scripts/mkelf.py" "$out" --elf "$OUT/vmm.elf" "${blobs[@]}"
    echo "$options$PI_VMM_OPTIONS -- console=ttyAMA0 quiet${disk:+ root=/dev/vda}" >"$cmdline"
}

image="$OUT/zxvisor-pi4.img" host='' linux='' disk=''
while [ $# -gt 0 ]; do
    case $1 in
        --host) host=$(realpath "${2:?--host needs a file}"); shift 2 ;;
        --linux) linux=1; shift ;;
        --disk) disk=$(realpath "${2:?--disk needs a file}"); shift 2 ;;
        -o) image=$(realpath -m "${2:?-o needs a file name}"); shift 2 ;;
        -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[ -z "$host" ] || [ -f "$host" ] || die "no such host image: $host"
[ -z "$host" ] || [ -z "$linux" ] || die "--host and --linux both name the host: give one"
[ -z "$disk" ] || [ -n "$linux" ] || die "--disk is the Linux guest's: it needs --linux"
[ -z "$disk" ] || [ -f "$disk" ] || die "no such disk image: $disk"
[ -z "$disk" ] || [ $(($(stat -c %s "$disk") % 512)) -eq 0 ] || die "$disk: a disk image is whole 512-byte sectors"
[ -z "$disk" ] || [ "$(stat -c %s "$disk")" -le $((PI_MAX_DISK_MIB << 20)) ] \
    || die "$disk: at most $PI_MAX_DISK_MIB MiB on the Pi (the firmware loads it with host.elf into the first GiB)"

ensure_toolchain
build_monitor
ensure_tools sfdisk:fdisk mkfs.vfat:dosfstools mcopy:mtools
debian_arm64_fetch raspi-firmware
pi4_dtb
firmware="$DEBIAN_ARM64_CACHE/root/raspi-firmware/usr/lib/raspi-firmware"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
config=$work/config.txt
if [ -n "$linux" ]; then
    build_vmm
    linux_guest
    pi_linux_host "$work/host.elf" "$work/cmdline.txt" "$disk"
    host=$work/host.elf
fi

# The partition: 1 MiB in (the usual alignment), FAT32 with 512-byte
# clusters (FAT32 needs at least 65525 clusters): 64 MiB, or what the files
# need and 16 MiB more, in whole MiB.
START=2048
need=$(stat -c %s "$MONITOR_IMAGE")
[ -z "$host" ] || need=$((need + $(stat -c %s "$host")))
need=$((need * 21 / 20 + (16 << 20)))
SECTORS=$((need > 64 << 20 ? (need + (1 << 20) - 1) >> 20 << 11 : 131072))
{
    echo "# zxvisor on the Raspberry Pi 4 (written by scripts/mk-sdimage.sh)"
    echo "arm_64bit=1"
    echo "kernel=kernel8.img"
    echo "device_tree=bcm2711-rpi-4-b.dtb"
    echo "# The console: PL011 UART0 on GPIO 14/15 (header pins 8 and 10), 115200 8N1,"
    echo "# clocked at 48 MHz; the monitor routes the pins to it."
    echo "enable_uart=1"
    echo "init_uart_clock=48000000"
    if [ -n "$linux" ]; then
        echo "# The EL1 host: the VMM with the Linux guest's kernel, initramfs (and disk)."
        echo "# The VMM's options and the guest's command line are in cmdline.txt."
        echo "initramfs host.elf followkernel"
    elif [ -n "$host" ]; then
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
[ -z "$linux" ] || mcopy -i "$fat" "$work/cmdline.txt" ::cmdline.txt
mdir -i "$fat" -b :: | sed 's|^::/|    |'
say "done: flash it with dd or Raspberry Pi Imager (README: Raspberry Pi 4)"
