#!/usr/bin/env bash
# Checks an SD card image from scripts/mk-sdimage.sh, printing `ok NAME` or
# `FAIL NAME: why` per check: the partition table, the FAT32 file system,
# the firmware files, config.txt, and that kernel8.img (and host.elf, when
# HOST is given) are the files that were built.
#
#   tests/check-sdimage.sh IMAGE MONITOR FIRMWARE_DIR DTB [HOST]
set -uo pipefail
PATH=$PATH:/sbin:/usr/sbin
export MTOOLS_SKIP_CHECK=1

image=$1 monitor=$2 firmware=$3 dtb=$4 host=${5:-}
tag=${host:+_with_host}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {
    local name=$1 why=$2
    shift 2
    if "$@"; then echo "ok sdimage_$name$tag"; else echo "FAIL sdimage_$name$tag: $why"; fi
}

# One bootable W95 FAT32 (LBA) partition, 1 MiB in.
table=$(sfdisk -d "$image" 2>&1)
check partition_table "want one bootable type-c partition at sector 2048, got: $(tr '\n' ' ' <<<"$table")" \
    eval '[ "$(grep -c "^$image[0-9]* :" <<<"$table")" -eq 1 ] &&
          grep -q "^label: dos" <<<"$table" &&
          grep -Eq "^$image[0-9]* : start= *2048, size= *[0-9]+, type=c, bootable$" <<<"$table"'
start=$(sed -n 's/.* : start= *\([0-9]*\), size= *\([0-9]*\),.*/\1/p' <<<"$table")
size=$(sed -n 's/.* : start= *\([0-9]*\), size= *\([0-9]*\),.*/\2/p' <<<"$table")
dd if="$image" of="$work/part" bs=512 skip="${start:-0}" count="${size:-0}" status=none
check fat32 "the partition is not a clean FAT32 file system: $(file -b "$work/part")" \
    eval 'file -b "$work/part" | grep -q "FAT (32 bit)" && fsck.fat -n "$work/part" >/dev/null'

fat="$image@@$((${start:-0} * 512))"
mcopy -n -i "$fat" '::*' "$work/" 2>/dev/null
want="bcm2711-rpi-4-b.dtb config.txt fixup4.dat kernel8.img start4.elf${host:+ host.elf}"
have=$(mdir -i "$fat" -b :: 2>/dev/null | sed 's|^::/||' | sort | tr '\n' ' ' | sed 's/ $//')
check files "want the files $want, got: $have" \
    eval '[ "$have" = "$(tr " " "\n" <<<"$want" | sort | tr "\n" " " | sed "s/ $//")" ]'
check firmware_is_debians "start4.elf, fixup4.dat or the DTB differ from Debian's" \
    eval 'cmp -s "$work/start4.elf" "$firmware/start4.elf" && cmp -s "$work/fixup4.dat" "$firmware/fixup4.dat" &&
          cmp -s "$work/bcm2711-rpi-4-b.dtb" "$dtb"'
check kernel8_is_the_monitor "kernel8.img differs from $monitor" cmp -s "$work/kernel8.img" "$monitor"

config=$(grep -v '^#' "$work/config.txt" 2>/dev/null)
check config_txt "config.txt lacks arm_64bit=1, enable_uart=1 or kernel=kernel8.img: $(tr '\n' ' ' <<<"$config")" \
    eval 'grep -qx "arm_64bit=1" <<<"$config" && grep -qx "enable_uart=1" <<<"$config" &&
          grep -qx "kernel=kernel8.img" <<<"$config" && grep -qx "device_tree=bcm2711-rpi-4-b.dtb" <<<"$config"'
if [ -n "$host" ]; then
    check initramfs_is_the_host "config.txt does not load host.elf as initramfs, or host.elf differs from $host" \
        eval 'grep -qx "initramfs host.elf followkernel" <<<"$config" && cmp -s "$work/host.elf" "$host"'
else
    check no_initramfs "config.txt names an initramfs without a host" eval '! grep -q "^initramfs" <<<"$config"'
fi
