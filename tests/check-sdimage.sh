#!/usr/bin/env bash
# Checks an SD card image from scripts/mk-sdimage.sh, printing `ok NAME` or
# `FAIL NAME: why` per check: the partition table, the FAT32 file system,
# the firmware files, config.txt, and that kernel8.img (and host.elf, when
# HOST is given) are the files that were built. With --linux (an image from
# `mk-sdimage.sh --linux [--disk DISK]`): host.elf holds the VMM's segments
# and entry point, and cmdline.txt (one line) finds the kernel, the
# initramfs and the disk in host.elf, byte for byte, each clear of the
# others and in RAM of a 2 GiB Pi.
#
#   tests/check-sdimage.sh IMAGE MONITOR FIRMWARE_DIR DTB [HOST]
#   tests/check-sdimage.sh IMAGE MONITOR FIRMWARE_DIR DTB --linux VMM KERNEL INITRD [DISK]
set -uo pipefail
PATH=$PATH:/sbin:/usr/sbin
export MTOOLS_SKIP_CHECK=1

image=$1 monitor=$2 firmware=$3 dtb=$4 host=${5:-} linux=''
tag=${host:+_with_host}
if [ "$host" = --linux ]; then
    linux=("${@:6}") host='' tag=_linux${9:+_disk}
fi
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
want="bcm2711-rpi-4-b.dtb config.txt fixup4.dat kernel8.img start4.elf${host:+ host.elf}${linux:+ host.elf cmdline.txt}"
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
if [ -n "$linux" ]; then
    check initramfs_is_the_host "config.txt does not load host.elf as initramfs" \
        grep -qx "initramfs host.elf followkernel" <<<"$config"
    # What the firmware passes as /chosen/bootargs: the VMM reads it.
    check cmdline_txt_is_one_line "cmdline.txt is not one line with the VMM's options, \`--\` and console=ttyAMA0" \
        eval '[ "$(wc -l <"$work/cmdline.txt")" -eq 1 ] && grep -Eq "^vmm\.kernel=.* -- (.* )?console=ttyAMA0( |\$)" "$work/cmdline.txt"'
    python3 - "$work/host.elf" "$work/cmdline.txt" "${linux[@]}" <<'PY'
import re, struct, sys

host_path, cmdline_path, vmm_path, kernel, initrd = sys.argv[1:6]
disk = sys.argv[6] if len(sys.argv) > 6 else None
tag = "_linux_disk" if disk else "_linux"
PI_RAM = (0x40000000, 0x80000000 - (32 << 20))  # a 2 GiB Pi's second GiB, below the monitor


def check(name, ok, why):
    print(f"ok sdimage_{name}{tag}" if ok else f"FAIL sdimage_{name}{tag}: {why}")


def load(path):
    """The ELF's entry and its PT_LOAD segments as {paddr: (bytes, memsz)}."""
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF":
        return None, {}
    entry, phoff = struct.unpack_from("<QQ", data, 24)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    segs = {}
    for i in range(phnum):
        kind, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if kind == 1:
            segs[paddr] = (data[off:off + filesz], memsz)
    return entry, segs


entry, segs = load(host_path)
vmm_entry, vmm_segs = load(vmm_path)
check("host_elf_is_the_vmm", entry == vmm_entry and vmm_segs and all(segs.get(a) == s for a, s in vmm_segs.items()),
      f"host.elf (entry {entry or 0:#x}) lacks the VMM's entry {vmm_entry or 0:#x} or one of its segments")
words = open(cmdline_path).read().split()
options = words[:words.index("--")] if "--" in words else words
guest = words[len(options) + 1:]
blobs = {}
for word in options:
    m = re.fullmatch(r"vmm\.(kernel|initrd|disk)=(0x[0-9a-f]+),([0-9]+)", word)
    if m:
        blobs[m[1]] = (int(m[2], 16), int(m[3]))
for name, path in (("kernel", kernel), ("initrd", initrd), ("disk", disk)):
    if path is None:
        check("no_disk", "disk" not in blobs and "root=/dev/vda" not in guest,
              "cmdline.txt has a vmm.disk or root=/dev/vda without a disk")
        continue
    want = open(path, "rb").read()
    addr, size = blobs.get(name, (None, None))
    check(f"cmdline_finds_the_{name}", addr is not None and size == len(want) and segs.get(addr, (None,))[0] == want,
          f"vmm.{name}=ADDR,SIZE is missing, or host.elf has no segment there holding {path}")
if disk:
    check("guest_boots_the_disk", "root=/dev/vda" in guest, "no root=/dev/vda in the guest's command line")
ranges = sorted((a, a + max(len(d), m)) for a, (d, m) in segs.items())
apart = all(end <= nxt for (_, end), (nxt, _) in zip(ranges, ranges[1:]))
inside = all(PI_RAM[0] <= a and end <= PI_RAM[1] for a, end in ranges)
check("segments_apart_in_pi_ram", apart and inside,
      f"host.elf's segments overlap or leave {PI_RAM[0]:#x}..{PI_RAM[1]:#x}: "
      + ", ".join(f"{a:#x}..{e:#x}" for a, e in ranges))
PY
elif [ -n "$host" ]; then
    check initramfs_is_the_host "config.txt does not load host.elf as initramfs, or host.elf differs from $host" \
        eval 'grep -qx "initramfs host.elf followkernel" <<<"$config" && cmp -s "$work/host.elf" "$host"'
else
    check no_initramfs "config.txt names an initramfs without a host" eval '! grep -q "^initramfs" <<<"$config"'
fi
